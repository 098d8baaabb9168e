// FusedAdamW and clip_grad_norm against LibTorch's AdamW and clip_grad_norm_: the same
// parameters after many steps (weight decay, a changing learning rate), checkpoints that
// either optimizer resumes, the fallback for other dtypes, and clipping above and below
// the threshold.
#include "sherl/kernels/fused_adamw.h"

#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>

namespace sherl {
namespace {

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / (b.abs() + 1e-3)).max().item<double>();
}

std::vector<torch::Tensor> make_parameters(torch::Dtype dtype) {
  torch::manual_seed(0);
  std::vector<torch::Tensor> ps;
  for (auto sizes : {std::vector<int64_t>{64, 128}, {64}, {1}, {5, 128}})
    ps.push_back(torch::randn(sizes, torch::dtype(dtype)).requires_grad_());
  return ps;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// `steps` steps of both optimizers on the same gradients (seeded), changing the rate.
template <typename A, typename B>
void run_both(A& a, std::vector<torch::Tensor>& pa, B& b, std::vector<torch::Tensor>& pb, int steps, uint64_t seed) {
  torch::manual_seed(seed);
  for (int s = 0; s < steps; ++s) {
    for (size_t i = 0; i < pa.size(); ++i) {
      torch::Tensor g = torch::randn_like(pa[i]) * (s % 3 + 1);
      pa[i].mutable_grad() = g.clone();
      pb[i].mutable_grad() = g.clone();
    }
    if constexpr (std::is_same_v<A, FusedAdamW>) EXPECT_EQ(a.fused(), pa[0].scalar_type() == torch::kFloat);
    const double lr = 1e-3 * (1 + s % 5);
    for (auto* opt : {static_cast<torch::optim::AdamW*>(&a), static_cast<torch::optim::AdamW*>(&b)})
      for (auto& group : opt->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    a.step();
    b.step();
  }
}

// The same parameters under FusedAdamW and under LibTorch's AdamW, with the same options.
struct Twins {
  std::vector<torch::Tensor> fused_params, params;
  torch::optim::AdamWOptions options = torch::optim::AdamWOptions(2e-3).weight_decay(0.01);
  FusedAdamW fused;
  torch::optim::AdamW reference;

  explicit Twins(torch::Dtype dtype)
      : fused_params(make_parameters(dtype)), params(copies(fused_params)), fused(fused_params, options),
        reference(params, options) {}
  void run(int steps, uint64_t seed) { run_both(fused, fused_params, reference, params, steps, seed); }
};

TEST(FusedAdamW, MatchesAdamW) {
  Twins t(torch::kFloat32);
  t.run(50, 1);
  for (size_t i = 0; i < t.params.size(); ++i) {
    EXPECT_LT(max_rel_diff(t.fused_params[i], t.params[i]), 1e-5) << "parameter " << i;
    EXPECT_FALSE(torch::equal(t.fused_params[i], make_parameters(torch::kFloat32)[i])) << "parameter " << i;
  }
}

TEST(FusedAdamW, CheckpointsResumeEitherWay) {
  Twins t(torch::kFloat32);
  t.run(10, 2);
  // Swap the states through torch::save / torch::load, then continue.
  std::stringstream fused_state, reference_state;
  torch::save(t.fused, fused_state);
  torch::save(t.reference, reference_state);
  FusedAdamW fused_resumed(t.fused_params, t.options);
  torch::optim::AdamW reference_resumed(t.params, t.options);
  torch::load(fused_resumed, reference_state);
  torch::load(reference_resumed, fused_state);
  run_both(fused_resumed, t.fused_params, reference_resumed, t.params, 10, 3);
  for (size_t i = 0; i < t.params.size(); ++i) EXPECT_LT(max_rel_diff(t.fused_params[i], t.params[i]), 1e-5);
}

TEST(FusedAdamW, OtherDtypesTakeAdamWsPath) {
  Twins t(torch::kFloat64);
  t.run(5, 4);
  for (size_t i = 0; i < t.params.size(); ++i) EXPECT_TRUE(torch::equal(t.fused_params[i], t.params[i]));
}

TEST(ClipGradNorm, MatchesLibTorch) {
  for (double max_norm : {0.5, 1e6}) {  // clipped, and left alone
    auto ours = make_parameters(torch::kFloat32), theirs = copies(ours);
    torch::manual_seed(5);
    for (size_t i = 0; i < ours.size(); ++i) {
      torch::Tensor g = torch::randn_like(ours[i]);
      ours[i].mutable_grad() = g.clone();
      theirs[i].mutable_grad() = g.clone();
    }
    ours[2].mutable_grad() = torch::Tensor();  // a parameter without a gradient
    theirs[2].mutable_grad() = torch::Tensor();
    const double total = clip_grad_norm(ours, max_norm);
    const double expected = torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    EXPECT_NEAR(total, expected, 1e-5 * expected);
    for (size_t i = 0; i < ours.size(); ++i) {
      if (i == 2) continue;
      EXPECT_LT(max_rel_diff(ours[i].grad(), theirs[i].grad()), 1e-5) << "max_norm " << max_norm;
    }
  }
}

}  // namespace
}  // namespace sherl
