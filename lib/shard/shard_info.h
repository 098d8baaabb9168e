#pragma once
// ShardSetInfo as JSON (the manifest's "info" object, sherl-info --json) and compared
// field by field, so that a mismatch can be reported by name.
#include <string>

#include "lib/core/json.h"
#include "lib/shard/format.h"

namespace sherl {

json to_json(const ShardSetInfo& info);
json to_json(const ManifestEntry& entry);
// Throws sherl::Error("<where>: ...") naming the bad key.
ManifestEntry manifest_entry_from_json(const json& j, const std::string& where);
// Throws sherl::Error("<where>: ...") naming the bad key.
ShardSetInfo shard_set_info_from_json(const json& j, const std::string& where);
// The name of the first field that differs ("backbone.weights_sha256", "tiers", ...), or "".
std::string first_difference(const ShardSetInfo& a, const ShardSetInfo& b);

// What readers check of each shard against its manifest entry, without hashing: "" when it
// agrees, else the problem (for "<path>: <problem>").
// The file's size ("" also when the file is missing: opening it reports that).
std::string size_problem(const std::string& path, const ManifestEntry& entry);
// Example count, shard_index (= the position in the manifest) and the set's attributes.
std::string manifest_problem(const ShardFile& file, const Manifest& manifest, int64_t position);

}  // namespace sherl
