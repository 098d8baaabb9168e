#pragma once
// ShardSetWriter: writes the shards of a set into its directory and then its manifest, the
// one owner of what every writer of a set must get right (formats/shard.md): shards named by
// their index and committed whole (temporary name, fsync, rename), no manifest.json ever
// listing a shard that is being replaced, manifest.json (or a partition's part manifest)
// written last, and the shard files of an earlier, longer run removed once the new manifest
// is in place. Extraction and consolidation only stream examples into it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/shard/shard.h"

namespace sherl {

class ShardSetWriter {
 public:
  // Creates `dir` where it is missing. The caller holds the lock of `dir` or of a directory
  // above it (lib/core/directory_lock.h) while writing.
  ShardSetWriter(std::string dir, ShardSetInfo info, CompressionOptions compression);
  ~ShardSetWriter();  // an open, uncommitted shard is removed

  // Whether shard `index` of an earlier run is kept: it is, and is listed like a committed
  // one, when it holds `examples` examples and has this set's description (the source
  // path's spelling aside). A file that is not kept is removed, and `why_not` says why
  // ("its tiers differ from this set's"); it stays empty where there was no file.
  bool keep_existing(int64_t index, int64_t examples, std::string& why_not);
  // Opens shard `index` for appending; with contiguous_tokens > 0 in the training layout
  // (ShardWriter). An earlier run's manifest.json is removed first.
  void open_shard(int64_t index, int64_t contiguous_tokens = 0);
  bool has_open_shard() const;
  void append(const ShardExample& example);  // to the open shard
  int64_t open_shard_size() const;
  void commit_shard();

  // The set is complete: writes manifest.json listing the committed and kept shards (in
  // index order), then removes the shard files it does not list.
  void finish();
  // This writer wrote partition `partition` of `partitions`: writes its part manifest
  // (merge_part_manifests, set_directory.h, makes manifest.json once all parts are there).
  void finish_partition(int64_t partition, int64_t partitions);

  const std::vector<ManifestEntry>& shards() const;  // committed and kept, in index order
  int64_t examples() const;                           // in those shards

 private:
  void record(int64_t index, int64_t examples, const std::string& sha256);

  std::string dir_;
  ShardSetInfo info_;
  CompressionOptions compression_;
  std::unique_ptr<ShardWriter> open_;
  int64_t open_index_ = -1;
  std::vector<ManifestEntry> shards_;
};

}  // namespace sherl
