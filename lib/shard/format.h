#pragma once
// The feature-shard format (specified in formats/shard.md) without LibTorch: the set's
// description, shard files opened and validated with their stored values read as raw bytes,
// manifests, and verification. It is the interface of libsherl_format, which sherl-info and
// programs of users that read our shards link instead of all of sherl. shard.h adds the
// tensors: writing shards and reading examples as tensors.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/types.h"  // LabelKind, BackboneIdentity

namespace sherl {

// How feature values are stored. I8: int8 with one float32 scale per (token, tier) row, in
// the dataset feature_scales (formats/shard.md; lib/shard/stored_values.h quantises).
enum class FeatureDType { F32, F16, BF16, I8 };
std::string to_string(FeatureDType t);           // "f32", "f16", "bf16", "i8"
FeatureDType parse_feature_dtype(const std::string& s);  // throws sherl::Error
size_t value_bytes(FeatureDType t);              // 4, 2, 2, 1
// Bytes one token row of `tiers` tiers of width d takes as stored (I8: with its scales).
int64_t row_bytes(FeatureDType t, int64_t tiers, int64_t d);

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

// One shard opened read-only. Opening validates format name and version, datasets, shapes
// and offsets, and reads ids and labels, throwing sherl::Error("<path>: <problem>").
class ShardFile {
 public:
  explicit ShardFile(const std::string& path);
  ShardFile(ShardFile&&) noexcept;
  ShardFile& operator=(ShardFile&&) noexcept;
  ~ShardFile();
  const std::string& path() const;
  const ShardSetInfo& info() const;
  int64_t shard_index() const;
  int64_t size() const;                          // examples
  int64_t num_tokens(int64_t i) const;           // tokens of example i (range-checked)
  const std::vector<int64_t>& offsets() const;   // first token row of each example, and the end
  const std::vector<int64_t>& ids() const;       // example ids, in file order
  const std::vector<int64_t>& class_labels() const;  // Class: one per example; else empty
  const std::vector<float>& label_values() const;    // other kinds: [examples][num_labels]; else empty
  bool contiguous() const;                       // features in one unfiltered block (training layout)
  // Token rows of examples [begin, end) (range-checked).
  int64_t token_rows(int64_t begin, int64_t end) const;
  // Reads the features of examples [begin, end) with one HDF5 read, as stored: token rows of
  // [tiers][hidden_size] values of info().dtype (f16 and bf16 as their 16 bits), into `out`,
  // which has room for all of them (token_rows(begin, end) rows).
  void read_features(int64_t begin, int64_t end, void* out) const;
  // The same rows' scales (dtype I8 only: [rows][tiers] float32) into `out`.
  void read_scales(int64_t begin, int64_t end, float* out) const;

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

// Opens every shard `manifest` lists in `dir`, in its order, after checking each file's
// size and SHA-256 against its entry, and then its example count, shard_index and
// attributes: what every reader of a set trusts. Throws "<shard path>: <problem>".
std::vector<ShardFile> open_shard_files(const std::string& dir, const Manifest& manifest);

// Verification for `sherl-info --verify`: reads every chunk (Fletcher32), checks structure
// and manifest, scans for NaN/Inf. Returns one message per problem ("<file>: <dataset>:
// <problem>"); empty when the set is sound.
std::vector<std::string> verify_shard_set(const std::string& dir);
std::vector<std::string> verify_shard_file(const std::string& path);

}  // namespace sherl
