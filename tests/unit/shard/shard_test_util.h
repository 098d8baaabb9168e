#pragma once
// Helpers shared by the shard unit tests: a scratch directory and shards with known values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "lib/shard/shard.h"

namespace sherl::test {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sherl-shard-test.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline ShardSetInfo test_info(FeatureDType dtype, int64_t tiers = 3, int64_t d = 8) {
  ShardSetInfo info;
  info.backbone = {"vit", d, 4, std::string(64, 'a'), std::string(64, 'b')};
  for (int64_t t = 0; t < tiers; ++t) info.tiers.push_back(t);
  info.late_layers = 4 - (tiers - 1);
  info.dtype = dtype;
  info.label_kind = LabelKind::Class;
  info.num_labels = 3;
  info.label_names = {"cat", "dog", "émeu"};
  info.source_path = "/data/input.idx";
  info.source_sha256 = std::string(64, 'c');
  info.tool_version = "0.1.0";
  info.command_line = "sherl-extract --test";
  return info;
}

// Values k/16, k in [-64, 64): exactly representable in f32, f16 and bf16.
inline torch::Tensor representable_features(int64_t tokens, int64_t tiers, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(-64, 64, {tokens, tiers, d}, torch::kInt64).to(torch::kFloat32) / 16.0;
}

// Examples with 1 token, thousands of tokens, and a few ordinary lengths.
inline std::vector<ShardExample> ragged_examples(const ShardSetInfo& info, int64_t first_id = 100) {
  std::vector<int64_t> lengths = {1, 3000, 17, 5, 197, 1};
  std::vector<ShardExample> out;
  for (size_t i = 0; i < lengths.size(); ++i) {
    ShardExample ex;
    ex.id = first_id + static_cast<int64_t>(i) * 7;
    ex.features = representable_features(lengths[i], static_cast<int64_t>(info.tiers.size()),
                                         info.backbone.hidden_size, 1000 + i);
    ex.label = torch::tensor(static_cast<int64_t>(i % info.num_labels));
    out.push_back(ex);
  }
  return out;
}

// contiguous: the training layout, created for exactly the examples' token rows.
inline std::string write_shard(const std::string& path, const ShardSetInfo& info,
                               const std::vector<ShardExample>& examples, int64_t index = 0,
                               CompressionOptions compression = {}, bool contiguous = false) {
  int64_t tokens = 0;
  for (const auto& ex : examples) tokens += ex.features.size(0);
  ShardWriter writer(path, info, index, compression, contiguous ? tokens : 0);
  for (const auto& ex : examples) writer.append(ex);
  return writer.commit();
}

}  // namespace sherl::test
