#pragma once
// The feature-shard format with tensors: shards written from tensors, examples read as
// tensors, and shard sets opened for training. The format itself, without LibTorch, is
// format.h (formats/shard.md specifies it); this header and format.h are the library's whole
// public interface to it.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/shard/format.h"

namespace sherl {

inline torch::ScalarType torch_dtype(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return torch::kFloat32;
    case FeatureDType::F16: return torch::kFloat16;
    case FeatureDType::BF16: return torch::kBFloat16;
    case FeatureDType::I8: return torch::kInt8;
  }
  return torch::kFloat32;
}

// One example as stored.
struct ShardExample {
  int64_t id = 0;                // stable index in the source input
  torch::Tensor features;        // [tokens, N, d], float32 on read; any float dtype on write
  torch::Tensor label;           // int64 scalar (Class) or float32 [num_labels]
  // Int8 features as an i8 shard stores them: their [tokens, N] float32 scales (undefined
  // otherwise). Read so with stored_dtype; a writer of an i8 shard takes them as they are.
  torch::Tensor scales;
};

// Writes one shard to a temporary name; commit() fsyncs and renames it into place, and
// returns the SHA-256 of the final file. Destroying an uncommitted writer removes the
// temporary. Memory stays bounded (features are appended to the dataset as they come).
//
// Features are chunked, compressed and checksummed by default: extendible, so the writer
// need not know the shard's size. With contiguous_tokens > 0 they are one unfiltered block
// of exactly that many token rows instead (the training layout: any example is one plain
// read); commit() refuses a shard whose examples do not fill it. The small per-example
// datasets always use `compression`.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, const ShardSetInfo& info, int64_t shard_index,
              const CompressionOptions& compression, int64_t contiguous_tokens = 0);
  ~ShardWriter();
  void append(const ShardExample& example);
  int64_t size() const;
  std::string commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A shard's examples as tensors: a ShardFile (opened and validated) whose features are read
// into tensors.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  explicit ShardReader(ShardFile file);
  const ShardSetInfo& info() const { return file_.info(); }
  int64_t shard_index() const { return file_.shard_index(); }
  int64_t size() const { return file_.size(); }                     // examples
  int64_t num_tokens(int64_t i) const { return file_.num_tokens(i); }
  const std::vector<int64_t>& ids() const { return file_.ids(); }  // example ids, in file order
  const torch::Tensor& labels() const { return labels_; }          // int64 [n] or float32 [n, L]
  bool contiguous() const { return file_.contiguous(); }
  const std::string& path() const { return file_.path(); }
  ShardExample read(int64_t i) const;         // features converted to float32
  // Reads examples [begin, end) with one HDF5 read (cheapest for sequential passes). The
  // features are converted to float32, or with stored_dtype = true left in the shard's
  // dtype (half the memory for f16/bf16 where the caller converts later anyway; int8 with
  // its scales for i8).
  std::vector<ShardExample> read_range(int64_t begin, int64_t end, bool stored_dtype = false) const;

 private:
  ShardFile file_;
  torch::Tensor labels_;
};

// A complete shard set opened for reading: all shards listed by the manifest, with a
// global example index 0..size()-1 in manifest order.
class ShardSet {
 public:
  explicit ShardSet(const std::string& dir);  // reads and checks the manifest, opens shards
  const ShardSetInfo& info() const;
  int64_t size() const;
  const std::vector<std::unique_ptr<ShardReader>>& shards() const;
  std::pair<int64_t, int64_t> locate(int64_t global_index) const;  // (shard, local index)
  // Every shard contiguous: reading examples one by one in any order costs no more than
  // reading them in sequence.
  bool random_access() const;
  ShardExample read(int64_t global_index) const;
  const std::string& dir() const;

 private:
  std::string dir_;
  Manifest manifest_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<int64_t> starts_;
};

}  // namespace sherl
