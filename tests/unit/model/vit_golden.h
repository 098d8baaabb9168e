#pragma once
// Shared by the model-only golden test and the end-to-end one: runs the bundled ViT on the
// golden images and measures how far it lands from examples/models/vit-tiny-fmnist5/golden.json.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "lib/core/json.h"
#include "lib/model/backbone.h"
#include "lib/model/safetensors.h"

namespace sherl::test {

inline std::string vit_model_dir() { return std::string(SHERL_SOURCE_DIR) + "/examples/models/vit-tiny-fmnist5"; }
inline std::string fmnist_dir() { return "/usr/share/datasets/fashion-mnist"; }
inline json read_vit_golden() { return read_json_file(vit_model_dir() + "/golden.json"); }

struct VitGoldenDiffs {
  double norms_abs = 0, norms_rel = 0;  // hidden_state_norms (7 per image)
  double first8 = 0;                    // cls_final_ln_first8
  double logits = 0;
  int predictions_matching = 0;
};

inline double max_abs_diff(const torch::Tensor& a, const json& expected) {
  auto b = torch::tensor(expected.get<std::vector<double>>(), torch::kFloat64);
  return (a.to(torch::kFloat64).flatten() - b).abs().max().item<double>();
}

// pixel_values [N, 1, 28, 28] for the first N golden samples, in order.
inline VitGoldenDiffs compare_vit_golden(BackboneImpl& vit, const torch::Tensor& pixel_values, const json& golden) {
  SafetensorsFile ckpt(vit_model_dir() + "/model.safetensors");
  auto head_w = ckpt.get("classifier.weight"), head_b = ckpt.get("classifier.bias");
  const int64_t L = vit.num_layers();
  std::vector<int64_t> all_tiers;
  for (int64_t t = 0; t <= L; ++t) all_tiers.push_back(t);

  ModelInputs in;
  in.pixel_values = pixel_values;
  auto tiers = compute_tiers(vit, in, all_tiers);  // [N, T, L+1, d]
  torch::NoGradGuard no_grad;
  auto last = tiers.select(2, L);
  auto pooled = vit.pool(last, vit.layer_state(torch::ones({last.size(0), last.size(1)}, torch::kInt64), last));
  auto logits = torch::nn::functional::linear(pooled, head_w, head_b);
  auto norms = tiers.to(torch::kFloat64).pow(2).sum({1, 3}).sqrt();  // [N, L+1], Frobenius per tier

  VitGoldenDiffs d;
  for (int64_t i = 0; i < pixel_values.size(0); ++i) {
    const json& s = golden.at("samples").at(i);
    auto expected_norms = torch::tensor(s.at("hidden_state_norms").get<std::vector<double>>(), torch::kFloat64);
    auto diff = (norms[i] - expected_norms).abs();
    d.norms_abs = std::max(d.norms_abs, diff.max().item<double>());
    d.norms_rel = std::max(d.norms_rel, (diff / expected_norms).max().item<double>());
    d.first8 = std::max(d.first8, max_abs_diff(pooled[i].narrow(0, 0, 8), s.at("cls_final_ln_first8")));
    d.logits = std::max(d.logits, max_abs_diff(logits[i], s.at("logits")));
    d.predictions_matching += logits[i].argmax().item<int64_t>() == s.at("pred").get<int64_t>();
  }
  return d;
}

}  // namespace sherl::test
