#pragma once
// Runs sherl::run_extraction on a JSON Lines file of token ids and reads the shard set back:
// for tests that compare extractions (devices, precisions).
#include <torch/torch.h>

#include <string>
#include <vector>

namespace sherl::test {

// Extracts `jsonl` with the backbone in `model_dir` into `out_dir` (all tiers, f32 shards, no
// compression) on `device` in `precision`; returns every example's features [tokens, N, d].
std::vector<torch::Tensor> extract_features(const std::string& model_dir, const std::string& jsonl,
                                            const std::string& out_dir, torch::Device device,
                                            torch::ScalarType precision = torch::kFloat32, int64_t batch_size = 4);

// The largest |a - b| over all examples, relative to the largest |a|.
double max_relative_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);

}  // namespace sherl::test
