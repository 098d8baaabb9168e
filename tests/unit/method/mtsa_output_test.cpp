// mtsa_output_ln (the MTSA's LayerNorm, dropout and gated residual in one CPU kernel, with a
// hand-written backward) against the same computation in LibTorch operations: outputs and
// the gradients of y, the LayerNorm's affine and the gate, with and without a dropout mask;
// and a whole MTSA in training mode, fused kernels against LibTorch's path, same masks.
#include "sherl/kernels/mtsa_output.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sherl/kernels/dropout.h"
#include "tests/unit/method/random_mtsa.h"

namespace sherl {
namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Leaves {
  torch::Tensor y, gamma, beta, gate;
};

Leaves leaves(int64_t M, int64_t d, torch::Dtype dtype) {
  auto o = torch::TensorOptions().dtype(dtype);
  return {torch::randn({M, d}, o), 1 + 0.3 * torch::randn({d}, o), 0.2 * torch::randn({d}, o), torch::randn({1}, o)};
}

// Output and the gradients of (y, gamma, beta, gate) of sum(out * upstream).
template <typename Fn>
std::vector<torch::Tensor> run(const Leaves& in, const torch::Tensor& upstream, Fn fn) {
  std::vector<torch::Tensor> leaf;
  for (const auto& t : {in.y, in.gamma, in.beta, in.gate}) leaf.push_back(t.detach().clone().requires_grad_(true));
  // The gate value as the MTSA computes it (tanh(gamma / T)): not a leaf.
  torch::Tensor out = fn(leaf[0], leaf[1], leaf[2], torch::tanh(leaf[3] / 0.1));
  (out * upstream).sum().backward();
  std::vector<torch::Tensor> result{out.detach()};
  for (const auto& t : leaf) result.push_back(t.grad());
  return result;
}

void expect_same(int64_t M, int64_t d, torch::Dtype dtype, bool with_mask, double tolerance) {
  Leaves in = leaves(M, d, dtype);
  // `last` as the MTSA reads it: one tier of [M, N, d], rows strided.
  torch::Tensor last = torch::randn({M, 3, d}, torch::TensorOptions().dtype(dtype)).select(1, 2);
  torch::Tensor mask = with_mask ? dropout_mask({M, d}, 0.25, 7).to(dtype) : torch::Tensor();
  torch::Tensor upstream = torch::randn({M, d}, torch::TensorOptions().dtype(dtype));
  auto ours = run(in, upstream, [&](auto y, auto g, auto b, auto gate) {
    return mtsa_output_ln(y, last, g, b, 1e-12, gate, mask);
  });
  auto theirs = run(in, upstream, [&](auto y, auto g, auto b, auto gate) {
    torch::Tensor normed = torch::layer_norm(y, {d}, g, b, 1e-12);
    return (mask.defined() ? normed * mask : normed) + gate * last;
  });
  const char* names[] = {"out", "dy", "dgamma", "dbeta", "dgate"};
  for (size_t k = 0; k < ours.size(); ++k) {
    ASSERT_TRUE(ours[k].defined()) << names[k];
    const double scale = std::max(1.0, theirs[k].abs().max().item<double>());
    EXPECT_LT(max_diff(ours[k], theirs[k]) / scale, tolerance) << names[k] << (with_mask ? " with mask" : "");
  }
}

TEST(MtsaOutput, MatchesLibTorchInFloat64) {
  torch::manual_seed(0);
  for (bool mask : {false, true}) {
    expect_same(1000, 24, torch::kFloat64, mask, 1e-12);
    expect_same(7, 16, torch::kFloat64, mask, 1e-12);  // fewer rows than one task
  }
}

TEST(MtsaOutput, MatchesLibTorchInFloat32) {
  torch::manual_seed(1);
  for (bool mask : {false, true}) expect_same(3200, 128, torch::kFloat32, mask, 1e-4);
}

TEST(MtsaOutput, KernelDoesNotApplyWhereItCannot) {
  Leaves in = leaves(10, 8, torch::kFloat32);
  torch::Tensor last = torch::randn({10, 8});
  EXPECT_TRUE(mtsa_output_kernel_applies(in.y, last, in.gamma, in.beta, in.gate, torch::Tensor()));
  EXPECT_FALSE(mtsa_output_kernel_applies(in.y, last.clone().requires_grad_(), in.gamma, in.beta, in.gate, {}));
  EXPECT_FALSE(mtsa_output_kernel_applies(in.y, torch::randn({8, 10}).t(), in.gamma, in.beta, in.gate, {}));
  EXPECT_FALSE(mtsa_output_kernel_applies(in.y, last, in.gamma, in.beta, in.gate, torch::ones({10, 8}, torch::kDouble)));
  EXPECT_FALSE(mtsa_output_kernel_applies(in.y.to(torch::kDouble), last, in.gamma, in.beta, in.gate, {}));
}

// Whether the autograd graph behind `t` holds a node whose name contains `name`.
bool graph_has(const torch::Tensor& t, const std::string& name) {
  std::vector<torch::autograd::Node*> stack{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find(name) != std::string::npos) return true;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return false;
}

// Tiers that need a gradient take LibTorch's path for every stage; with the same seed the
// fused path must draw the same dropout masks and compute the same output and gradients.
TEST(MtsaOutput, TrainingMtsaMatchesLibTorchPathWithTheSameMasks) {
  torch::manual_seed(3);
  const MtsaOptions options = test::small_options("linear-ln", "ln", 4, 32);
  Mtsa mtsa(options);
  test::randomise(mtsa);
  mtsa->train();
  torch::Tensor tiers = test::random_tiers(options, 3, 20);
  auto run_once = [&](bool tiers_need_grad) {
    torch::manual_seed(11);
    mtsa->zero_grad();
    torch::Tensor input = tiers.detach().clone().requires_grad_(tiers_need_grad);
    torch::Tensor out = mtsa->forward(input);
    // Either way through the path it is meant to take: both fused kernels, or neither.
    EXPECT_EQ(graph_has(out, "MtsaOutputLn"), !tiers_need_grad);
    EXPECT_EQ(graph_has(out, "TierProjectionsLinearLn"), !tiers_need_grad);
    out.pow(2).sum().backward();
    std::vector<torch::Tensor> result{out.detach()};
    for (const auto& p : mtsa->parameters()) result.push_back(p.grad().clone());
    return result;
  };
  auto fused = run_once(false), reference = run_once(true);
  ASSERT_EQ(fused.size(), reference.size());
  for (size_t k = 0; k < fused.size(); ++k) {
    const double scale = std::max(1.0, reference[k].abs().max().item<double>());
    EXPECT_LT(max_diff(fused[k], reference[k]) / scale, 1e-4) << "tensor " << k;
  }
}

}  // namespace
}  // namespace sherl
