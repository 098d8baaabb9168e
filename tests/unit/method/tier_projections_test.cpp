// project_tiers_linear_ln (all of the MTSA's linear-ln projections in one kernel, with a
// hand-written backward) against the same projections as LibTorch modules: outputs and the
// gradients of every weight, bias and LayerNorm affine, in float64 and float32, with one
// tier or several, strided rows, and several threads or one.
#include "sherl/kernels/tier_projections.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace sherl {
namespace {

struct Projections {
  std::vector<torch::nn::Linear> linear;
  std::vector<torch::nn::LayerNorm> norm;

  Projections(int64_t n, int64_t d, int64_t h, torch::Dtype dtype) {
    for (int64_t i = 0; i < n; ++i) {
      linear.emplace_back(torch::nn::Linear(d, h));
      norm.emplace_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(1e-5)));
      linear.back()->to(dtype);
      norm.back()->to(dtype);
      torch::NoGradGuard no_grad;  // an affine far from (1, 0), so that its gradients matter
      norm.back()->weight.copy_(torch::randn({h}) + 1);
      norm.back()->bias.copy_(torch::randn({h}));
    }
  }
  LinearLnParameters parameters() const {
    LinearLnParameters p;
    for (size_t i = 0; i < linear.size(); ++i) {
      p.weight.push_back(linear[i]->weight);
      p.bias.push_back(linear[i]->bias);
      p.gamma.push_back(norm[i]->weight);
      p.beta.push_back(norm[i]->bias);
    }
    return p;
  }
  std::vector<torch::Tensor> all() const {
    auto p = parameters();
    std::vector<torch::Tensor> out;
    for (auto* v : {&p.weight, &p.bias, &p.gamma, &p.beta}) out.insert(out.end(), v->begin(), v->end());
    return out;
  }
  void zero_grad() {
    for (auto& t : all()) t.mutable_grad() = torch::Tensor();
  }
  // LibTorch's way, tier by tier.
  std::array<torch::Tensor, 2> reference(const torch::Tensor& tiers) {
    const int64_t n = tiers.size(1);
    std::vector<torch::Tensor> shallow;
    for (int64_t i = 0; i + 1 < n; ++i) shallow.push_back(norm[i](linear[i](tiers.select(1, i))));
    torch::Tensor guide = norm[n - 1](linear[n - 1](tiers.select(1, n - 1)));
    return {n > 1 ? torch::stack(shallow, 1) : guide.new_empty({tiers.size(0), 0, guide.size(1)}), guide};
  }
};

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

// Outputs and parameter gradients of a random upstream gradient through both ways.
// Float16 tiers go with float32 parameters, against the reference on their float32 values.
void expect_same(const torch::Tensor& tiers, int64_t h, double tolerance) {
  const int64_t M = tiers.size(0), n = tiers.size(1), d = tiers.size(2);
  const auto dtype = tiers.scalar_type() == torch::kFloat16 ? torch::kFloat32 : tiers.scalar_type();
  Projections proj(n, d, h, dtype);
  LinearLnParameters p = proj.parameters();
  ASSERT_TRUE(tier_projections_kernel_applies(tiers, p));
  torch::Tensor up_shallow = torch::randn({M, n - 1, h}, torch::dtype(dtype));
  torch::Tensor up_guide = torch::randn({M, h}, torch::dtype(dtype));
  auto grads_of = [&](const std::array<torch::Tensor, 2>& out) {
    ((out[0] * up_shallow).sum() + (out[1] * up_guide).sum()).backward();
    std::vector<torch::Tensor> g;
    for (auto& t : proj.all()) g.push_back(t.grad().clone());
    proj.zero_grad();
    return g;
  };
  auto ours = project_tiers_linear_ln(tiers, p);
  auto theirs = proj.reference(tiers.to(dtype));
  ASSERT_EQ(ours[0].sizes(), theirs[0].sizes());
  ASSERT_EQ(ours[1].sizes(), theirs[1].sizes());
  EXPECT_LT(max_diff(ours[0], theirs[0]), tolerance);
  EXPECT_LT(max_diff(ours[1], theirs[1]), tolerance);
  auto our_grads = grads_of(ours), their_grads = grads_of(theirs);
  ASSERT_EQ(our_grads.size(), their_grads.size());
  for (size_t k = 0; k < our_grads.size(); ++k) {
    const double scale = std::max(1.0, their_grads[k].abs().max().item<double>());
    EXPECT_LT(max_diff(our_grads[k], their_grads[k]) / scale, tolerance) << "parameter " << k;
  }
}

TEST(TierProjections, MatchLibTorchModulesInFloat64) {
  torch::manual_seed(0);
  expect_same(torch::randn({1000, 6, 40}, torch::kFloat64), 20, 1e-12);
  expect_same(torch::randn({700, 1, 40}, torch::kFloat64), 20, 1e-12);  // one tier: the guide alone
  expect_same(torch::randn({5, 3, 16}, torch::kFloat64), 8, 1e-12);     // fewer rows than one task
  // Strided rows: 4 of 5 stored tiers, as a view.
  expect_same(torch::randn({900, 5, 24}, torch::kFloat64).narrow(1, 1, 4), 12, 1e-12);
}

TEST(TierProjections, MatchLibTorchModulesInFloat32) {
  torch::manual_seed(1);
  expect_same(torch::randn({3200, 6, 128}), 64, 1e-4);
}

TEST(TierProjections, ReadFloat16TiersWithFloat32Parameters) {
  torch::manual_seed(3);
  expect_same(torch::randn({3200, 6, 128}).to(torch::kFloat16), 64, 1e-4);
  // Strided rows, and a width that is no multiple of the weight gradient's column blocks.
  expect_same(torch::randn({700, 5, 200}).to(torch::kFloat16).narrow(1, 1, 4), 40, 1e-4);
}

TEST(TierProjections, OneThreadOrSeveralAgree) {
  torch::manual_seed(2);
  torch::Tensor tiers = torch::randn({2000, 4, 32}, torch::kFloat64);
  Projections proj(4, 32, 16, torch::kFloat64);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one = project_tiers_linear_ln(tiers, proj.parameters());
  at::set_num_threads(std::max(2, threads));
  auto many = project_tiers_linear_ln(tiers, proj.parameters());
  at::set_num_threads(threads);
  EXPECT_LT(max_diff(one[0], many[0]), 1e-12);
  EXPECT_LT(max_diff(one[1], many[1]), 1e-12);
  // The weight gradients are one product over every row whatever the thread count: equal.
  auto weight_gradients = [&](int threads) {
    at::set_num_threads(threads);
    auto out = project_tiers_linear_ln(tiers, proj.parameters());
    (out[0].sum() + out[1].pow(2).sum()).backward();
    std::vector<torch::Tensor> g;
    for (auto& w : proj.linear) {
      g.push_back(w->weight.grad().clone());
      w->weight.mutable_grad() = torch::Tensor();
    }
    return g;
  };
  auto g1 = weight_gradients(1), g2 = weight_gradients(std::max(2, threads));
  at::set_num_threads(threads);
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_TRUE(torch::equal(g1[i], g2[i])) << "tier " << i;
}

TEST(TierProjections, KernelDoesNotApplyWhereItCannot) {
  Projections proj(3, 16, 8, torch::kFloat32);
  const auto p = proj.parameters();
  EXPECT_TRUE(tier_projections_kernel_applies(torch::randn({10, 3, 16}), p));
  EXPECT_FALSE(tier_projections_kernel_applies(torch::randn({10, 3, 16}).requires_grad_(), p));  // wants dtiers
  EXPECT_FALSE(tier_projections_kernel_applies(torch::randn({10, 3, 16}, torch::kFloat64), p));  // dtype
  EXPECT_TRUE(tier_projections_kernel_applies(torch::randn({10, 3, 16}).to(torch::kFloat16), p));
  EXPECT_FALSE(tier_projections_kernel_applies(torch::randn({10, 3, 16}).to(torch::kBFloat16), p));
  EXPECT_FALSE(tier_projections_kernel_applies(torch::randn({10, 4, 16}), p));                   // tier count
  EXPECT_FALSE(tier_projections_kernel_applies(torch::randn({10, 16, 3}).transpose(1, 2), p));   // layout
}

}  // namespace
}  // namespace sherl
