// ShardSet: the shards a manifest lists, opened together behind one global example index.
#include <algorithm>

#include "lib/core/error.h"
#include "lib/shard/shard.h"

namespace sherl {

ShardSet::ShardSet(const std::string& dir) : dir_(dir), manifest_(read_manifest(dir)) {
  int64_t start = 0;
  for (ShardFile& file : open_shard_files(dir, manifest_)) {
    starts_.push_back(start);
    start += file.size();
    shards_.push_back(std::make_unique<ShardReader>(std::move(file)));
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
