#include "tests/support/extraction.h"

#include <algorithm>
#include <cmath>

#include "lib/extract/extractor.h"
#include "lib/shard/shard.h"

namespace sherl::test {

std::vector<torch::Tensor> extract_features(const std::string& model_dir, const std::string& jsonl,
                                            const std::string& out_dir, torch::Device device,
                                            torch::ScalarType precision, int64_t batch_size) {
  ExtractOptions o;
  o.model_dir = model_dir;
  o.input.path = jsonl;
  o.input.format = "jsonl";
  o.input.model_dir = model_dir;
  o.out_dir = out_dir;
  o.dtype = FeatureDType::F32;
  o.compression.zstd_level = 0;
  o.batch_size = batch_size;
  o.examples_per_shard = 5;  // several shards, so that the writer thread commits between blocks
  o.device = device;
  o.precision = precision;
  o.quiet = true;
  run_extraction(o);
  std::vector<torch::Tensor> out;
  ShardSet set(out_dir);
  for (const auto& shard : set.shards())
    for (auto& example : shard->read_range(0, shard->size())) out.push_back(example.features);
  return out;
}

double max_relative_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, (a[i] - b[i]).abs().max().item<double>());
    scale = std::max(scale, a[i].abs().max().item<double>());
  }
  return a.size() == b.size() ? diff / std::max(scale, 1e-30) : INFINITY;
}

}  // namespace sherl::test
