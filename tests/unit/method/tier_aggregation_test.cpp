// The CPU kernel of the MTSA's tier aggregation and its hand-written backward against the
// same computation in LibTorch operations (autograd): outputs and the gradients of every
// input, with padding tokens, negative scores and negative cosines present, for several
// tier counts and widths (h = 13 exercises the vector loops' remainders).
#include "sherl/method/tier_aggregation.h"

#include <gtest/gtest.h>

namespace sherl {
namespace {

struct Inputs {
  torch::Tensor shallow, guide, weight, bias, valid;
};

Inputs random_inputs(int64_t tokens, int64_t m, int64_t h, torch::Dtype dtype) {
  auto options = torch::TensorOptions().dtype(dtype);
  Inputs in;
  in.shallow = torch::randn({tokens, m, h}, options);
  in.guide = torch::randn({tokens, h}, options);
  in.weight = torch::randn({1, h}, options);  // as Linear(h, 1) holds it
  in.bias = torch::randn({1}, options) * 0.1;
  in.valid = torch::rand({tokens}) > 0.2;
  in.shallow.index_put_({in.valid.logical_not()}, 0);  // padding tokens are zeroed by the MTSA
  return in;
}

struct Result {
  TierAggregation out;
  std::vector<torch::Tensor> grads;  // shallow, guide, weight, bias
};

template <typename Aggregate>
Result run(const Inputs& base, const torch::Tensor& upstream, Aggregate aggregate) {
  std::vector<torch::Tensor> leaves;
  for (const auto& t : {base.shallow, base.guide, base.weight, base.bias})
    leaves.push_back(t.detach().clone().requires_grad_(true));
  Result r;
  r.out = aggregate(leaves[0], leaves[1], leaves[2], leaves[3], base.valid);
  (r.out.z * upstream).sum().backward();
  for (auto& leaf : leaves) r.grads.push_back(leaf.grad());
  return r;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void expect_same(int64_t m, int64_t h, torch::Dtype dtype, double tolerance) {
  Inputs in = random_inputs(300, m, h, dtype);
  torch::Tensor upstream = torch::randn({300, h}, torch::TensorOptions().dtype(dtype));
  Result kernel = run(in, upstream, aggregate_tiers);
  Result reference = run(in, upstream, aggregate_tiers_reference);
  const std::string where = "m=" + std::to_string(m) + " h=" + std::to_string(h);
  EXPECT_LT(max_diff(kernel.out.z, reference.out.z), tolerance) << where;
  EXPECT_LT(max_diff(kernel.out.attention, reference.out.attention), tolerance) << where;
  EXPECT_LT(max_diff(kernel.out.redundancy, reference.out.redundancy), tolerance) << where;
  const char* names[] = {"shallow", "guide", "weight", "bias"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(kernel.grads[i].defined()) << names[i];
    EXPECT_EQ(kernel.grads[i].sizes(), reference.grads[i].sizes()) << names[i];
    EXPECT_LT(max_diff(kernel.grads[i], reference.grads[i]), tolerance * 10) << names[i] << " " << where;
  }
  // The inputs exercise every branch: some scores below zero, some cosines below zero.
  EXPECT_GT((reference.out.attention == 0).sum().item<int64_t>(), 0);
  if (m > 1) EXPECT_LT(kernel.out.redundancy.min().item<double>(), m - 0.5);
}

TEST(TierAggregation, KernelMatchesLibTorchInFloat64) {
  torch::manual_seed(0);
  for (int64_t m : {1, 2, 5, 11})
    for (int64_t h : {13, 64}) expect_same(m, h, torch::kFloat64, 1e-12);
}

TEST(TierAggregation, KernelMatchesLibTorchInFloat32) {
  torch::manual_seed(1);
  expect_same(5, 64, torch::kFloat32, 1e-5);
}

TEST(TierAggregation, PaddingTokensHaveUnitRedundancyAndKeepTheGuide) {
  torch::manual_seed(2);
  Inputs in = random_inputs(50, 4, 16, torch::kFloat32);
  TierAggregation out = aggregate_tiers(in.shallow, in.guide, in.weight, in.bias, in.valid);
  auto padding = in.valid.logical_not();
  ASSERT_GT(padding.sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::all(out.redundancy.index({padding}) == 1).item<bool>());
  EXPECT_TRUE(torch::equal(out.z.index({padding}), in.guide.index({padding})));
  EXPECT_TRUE(torch::isfinite(out.z).all().item<bool>());
}

TEST(TierAggregation, RejectsMismatchedShapes) {
  auto shallow = torch::randn({10, 3, 8});
  EXPECT_THROW(aggregate_tiers(shallow, torch::randn({10, 7}), torch::randn({8}), torch::randn({1}), {}),
               c10::Error);
  EXPECT_THROW(aggregate_tiers(shallow, torch::randn({10, 8}), torch::randn({8}), torch::randn({1}),
                               torch::ones({9}, torch::kBool)),
               c10::Error);
}

}  // namespace
}  // namespace sherl
