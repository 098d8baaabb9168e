#pragma once
// A shard-set directory's files besides the shards' contents (formats/shard.md): their
// names, the part manifests of partitioned writers and their merge into manifest.json, and
// their removal. One owner, so that every writer names, recognises and removes exactly
// these files and nothing of a user's.
#include <cstdint>
#include <string>
#include <vector>

#include "lib/shard/format.h"

namespace sherl {

std::string shard_file_name(int64_t index);                         // "shard-00042.h5"
bool is_shard_file_name(const std::string& name);                   // shard-<5 or more digits>.h5
std::string part_manifest_name(int64_t partition, int64_t partitions);  // "manifest.part-0001-of-0004.json"
bool is_part_manifest_name(const std::string& name);
// A file that a shard-set writer may have written: a shard, manifest.json or a part manifest.
bool is_shard_set_file_name(const std::string& name);

// A partitioned writer (sherl-extract --shard i/N) records the shards each partition wrote
// in a part manifest; whichever partition completes the set merges them into manifest.json.
void write_part_manifest(const std::string& dir, int64_t partition, int64_t partitions,
                         const std::vector<ManifestEntry>& shards);
// Writes manifest.json (the shards in name order, the set's description read from the
// first) from the part manifests of a
// run of `partitions` partitions (-1: the count of the newest part manifest, so that the
// leftovers of a run with another count are ignored), once they hold `expected_examples`.
// Returns true when manifest.json was written.
bool merge_part_manifests(const std::string& dir, int64_t partitions, int64_t expected_examples);

// Removes, from `dir`, manifest.json first (so that the set reads as incomplete while the
// rest goes), then the shards and part manifests; nothing else.
void remove_shard_set_files(const std::string& dir);

}  // namespace sherl
