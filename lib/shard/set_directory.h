#pragma once
// The names of the files a shard-set directory holds (formats/shard.md): one owner, so that
// every writer names, recognises and removes exactly these files and nothing of a user's.
#include <cstdint>
#include <string>

namespace sherl {

std::string shard_file_name(int64_t index);                         // "shard-00042.h5"
bool is_shard_file_name(const std::string& name);                   // shard-<5 or more digits>.h5
std::string part_manifest_name(int64_t partition, int64_t partitions);  // "manifest.part-0001-of-0004.json"
bool is_part_manifest_name(const std::string& name);
// A file that a shard-set writer may have written: a shard, manifest.json or a part manifest.
bool is_shard_set_file_name(const std::string& name);

// Removes, from `dir`, manifest.json first (so that the set reads as incomplete while the
// rest goes), then the shards and part manifests; nothing else.
void remove_shard_set_files(const std::string& dir);

}  // namespace sherl
