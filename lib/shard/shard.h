#pragma once
// The feature-shard format (specified in formats/shard.md): one HDF5 file per shard holding,
// for each example, its frozen tiers [tokens, N, d] stored ragged (no padding), plus a
// manifest.json per shard set listing every complete shard. This header is the library's
// whole public interface to the format.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/types.h"  // LabelKind, BackboneIdentity

namespace sherl {

enum class FeatureDType { F32, F16, BF16 };
std::string to_string(FeatureDType t);           // "f32", "f16", "bf16"
FeatureDType parse_feature_dtype(const std::string& s);  // throws sherl::Error
torch::ScalarType torch_dtype(FeatureDType t);

// Everything that describes a shard set; stored as attributes of every shard and in the
// manifest. All shards of a set share it (shard_index aside).
struct ShardSetInfo {
  BackboneIdentity backbone;
  std::vector<int64_t> tiers;    // stored tiers: 0 = embedding output, t = output of layer t-1
  int64_t late_layers = 1;       // K the tiers were cut for (last tier = input of layer L-K)
  FeatureDType dtype = FeatureDType::F16;
  LabelKind label_kind = LabelKind::Class;
  int64_t num_labels = 0;        // classes (Class), targets (Regression: 1), labels (MultiLabel)
  std::vector<std::string> label_names;  // label_names[c] = original label of class c (Class only)
  std::string source_path;
  std::string source_sha256;
  std::string tool_version;
  std::string command_line;
};

struct CompressionOptions {
  int zstd_level = 3;            // 0 = no compression
  bool shuffle = true;           // HDF5 byte-shuffle before zstd (default chosen by measurement)
};
// "" when `c` can be written, else the problem ("zstd level 23 is out of range 0..22"):
// tools check it before they write anything.
std::string compression_problem(const CompressionOptions& c);

// Registers the zstd filter (id 32015) with the HDF5 library in this process. Idempotent;
// called by every reader and writer, so tools need no HDF5_PLUGIN_PATH.
void register_zstd_filter();

// One example as stored.
struct ShardExample {
  int64_t id = 0;                // stable index in the source input
  torch::Tensor features;        // [tokens, N, d], float32 on read; any float dtype on write
  torch::Tensor label;           // int64 scalar (Class) or float32 [num_labels]
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

// Opens a shard read-only; validates format name/version, datasets, shapes and offsets,
// throwing sherl::Error("<path>: <problem>") otherwise.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  const ShardSetInfo& info() const;
  int64_t shard_index() const;
  int64_t size() const;                       // examples
  int64_t num_tokens(int64_t i) const;        // tokens of example i
  const std::vector<int64_t>& ids() const;    // example ids, in file order
  const torch::Tensor& labels() const;        // int64 [n] or float32 [n, L], read at open
  bool contiguous() const;                    // features in one unfiltered block (training layout)
  ShardExample read(int64_t i) const;         // features converted to float32
  // Reads examples [begin, end) with one HDF5 read (cheapest for sequential passes). The
  // features are converted to float32, or with stored_dtype = true left in the shard's
  // dtype (half the memory for f16/bf16 where the caller converts later anyway).
  std::vector<ShardExample> read_range(int64_t begin, int64_t end, bool stored_dtype = false) const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ManifestEntry {
  std::string file;              // relative to the shard-set directory
  int64_t examples = 0;
  std::string sha256;
  int64_t bytes = 0;
};

struct Manifest {
  ShardSetInfo info;
  std::vector<ManifestEntry> shards;
  int64_t total_examples() const;
};

// The manifest of a shard-set directory: <dir>/manifest.json, written last and atomically.
std::string manifest_path(const std::string& dir);
void write_manifest(const std::string& dir, const Manifest& manifest);
Manifest read_manifest(const std::string& dir);  // throws when absent ("incomplete shard set")

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

// Verification for `sherl-info --verify`: reads every chunk (Fletcher32), checks structure
// and manifest, scans for NaN/Inf. Returns one message per problem ("<file>: <dataset>:
// <problem>"); empty when the set is sound.
std::vector<std::string> verify_shard_set(const std::string& dir);
std::vector<std::string> verify_shard_file(const std::string& path);

}  // namespace sherl
