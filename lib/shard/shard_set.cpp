// ShardSet: the shards a manifest lists, opened together behind one global example index.
#include <algorithm>
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/shard.h"
#include "lib/shard/shard_info.h"

namespace sherl {

std::string size_problem(const std::string& path, const ManifestEntry& entry) {
  std::error_code ec;
  auto bytes = std::filesystem::file_size(path, ec);
  if (ec || static_cast<int64_t>(bytes) == entry.bytes) return "";  // a missing file: the reader says so
  return "size " + std::to_string(bytes) + " bytes differs from manifest.json (" + std::to_string(entry.bytes) +
         "): truncated, or changed after the set was written";
}

std::string manifest_problem(const ShardReader& reader, const Manifest& manifest, int64_t position) {
  const ManifestEntry& entry = manifest.shards[static_cast<size_t>(position)];
  if (reader.size() != entry.examples)
    return "has " + std::to_string(reader.size()) + " examples but manifest.json lists " +
           std::to_string(entry.examples);
  if (reader.shard_index() != position)
    return "attribute 'shard_index' is " + std::to_string(reader.shard_index()) + " but manifest.json lists it " +
           "at position " + std::to_string(position);
  std::string diff = first_difference(reader.info(), manifest.info);
  if (!diff.empty()) return "attribute for '" + diff + "' differs from manifest.json";
  return "";
}

ShardSet::ShardSet(const std::string& dir) : dir_(dir), manifest_(read_manifest(dir)) {
  int64_t start = 0;
  for (size_t position = 0; position < manifest_.shards.size(); ++position) {
    const ManifestEntry& entry = manifest_.shards[position];
    std::string path = (std::filesystem::path(dir) / entry.file).string();
    std::string problem = size_problem(path, entry);  // cheap, catches truncation
    if (!problem.empty()) throw error_at(path, problem);
    // Before HDF5 opens it: damaged HDF5 metadata can crash the library or change what is
    // read without failing a chunk's Fletcher32; only the file's checksum covers every byte.
    // One pass over the set's bytes (its cost: bench/README.md, "Figures behind the code").
    if (sha256_file(path) != entry.sha256)
      throw error_at(path, "SHA-256 differs from manifest.json: the file changed or was damaged after the set was "
                           "written (sherl-info --verify lists what)");
    auto reader = std::make_unique<ShardReader>(path);
    problem = manifest_problem(*reader, manifest_, static_cast<int64_t>(position));
    if (!problem.empty()) throw error_at(path, problem);
    starts_.push_back(start);
    start += entry.examples;
    shards_.push_back(std::move(reader));
  }
}

const ShardSetInfo& ShardSet::info() const { return manifest_.info; }
int64_t ShardSet::size() const { return manifest_.total_examples(); }
const std::vector<std::unique_ptr<ShardReader>>& ShardSet::shards() const { return shards_; }
const std::string& ShardSet::dir() const { return dir_; }

std::pair<int64_t, int64_t> ShardSet::locate(int64_t global_index) const {
  if (global_index < 0 || global_index >= size())
    throw error_at(dir_, "example index " + std::to_string(global_index) + " is out of range (" +
                             std::to_string(size()) + " examples)");
  // The last shard starting at or before the index (empty shards share a start).
  auto it = std::upper_bound(starts_.begin(), starts_.end(), global_index);
  int64_t shard = static_cast<int64_t>(it - starts_.begin()) - 1;
  while (global_index - starts_[shard] >= shards_[shard]->size()) ++shard;
  return {shard, global_index - starts_[shard]};
}

bool ShardSet::random_access() const {
  return std::all_of(shards_.begin(), shards_.end(), [](const auto& s) { return s->contiguous(); });
}

ShardExample ShardSet::read(int64_t global_index) const {
  auto [shard, local] = locate(global_index);
  return shards_[shard]->read(local);
}

}  // namespace sherl
