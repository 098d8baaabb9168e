// The CPU kernel of input_attention (the first-token attention of the late route's last
// layer) and its hand-written backward against the same computation in LibTorch operations:
// outputs and the gradients of x and u, with masked tokens, for several shapes (d = 13
// exercises the vector loops' remainders).
#include "lib/model/input_attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <limits>

namespace sherl {
namespace {

struct Outcome {
  torch::Tensor out, dx, du;
};

template <typename Attend>
Outcome run(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias, const torch::Tensor& upstream,
        Attend attend) {
  auto xl = x.detach().clone().requires_grad_(true), ul = u.detach().clone().requires_grad_(true);
  Outcome r;
  r.out = attend(xl, ul, bias);
  (r.out * upstream).sum().backward();
  r.dx = xl.grad();
  r.du = ul.grad();
  return r;
}

// Hugging Face's additive mask: 0 for tokens to attend, the lowest value for the others.
torch::Tensor mask_bias(int64_t B, int64_t T, torch::Dtype dtype) {
  auto keep = torch::rand({B, T}) > 0.3;
  keep.select(1, 0).fill_(true);  // the first token is always a real one
  double lowest = dtype == torch::kFloat64 ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest();
  auto options = torch::TensorOptions().dtype(dtype);
  return torch::where(keep, torch::zeros({B, T}, options), torch::full({B, T}, lowest, options));
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void expect_same(int64_t B, int64_t T, int64_t J, int64_t d, torch::Dtype dtype, bool masked, double tolerance) {
  auto options = torch::TensorOptions().dtype(dtype);
  torch::Tensor x = torch::randn({B, T, d}, options), u = torch::randn({B, J, d}, options) * 0.5;
  torch::Tensor bias = masked ? mask_bias(B, T, dtype) : torch::Tensor();
  torch::Tensor upstream = torch::randn({B, J, d}, options);
  Outcome kernel = run(x, u, bias, upstream, input_attention);
  Outcome reference = run(x, u, bias, upstream, input_attention_reference);
  const std::string where = "B=" + std::to_string(B) + " T=" + std::to_string(T) + " J=" + std::to_string(J) +
                            " d=" + std::to_string(d) + (masked ? " masked" : "");
  ASSERT_EQ(kernel.out.sizes(), torch::IntArrayRef({B, J, d})) << where;
  EXPECT_LT(max_diff(kernel.out, reference.out), tolerance) << where;
  EXPECT_LT(max_diff(kernel.dx, reference.dx), tolerance) << where;
  EXPECT_LT(max_diff(kernel.du, reference.du), tolerance) << where;
  if (masked) {  // masked tokens weigh exactly 0, so they get no gradient at all
    auto bias_masked = bias < -1;
    EXPECT_EQ(kernel.dx.index({bias_masked}).abs().max().item<double>(), 0.0) << where;
  }
}

TEST(InputAttention, KernelMatchesLibTorchInFloat64) {
  torch::manual_seed(0);
  for (int64_t J : {1, 4})
    for (int64_t d : {13, 64})
      for (bool masked : {false, true}) expect_same(9, 7, J, d, torch::kFloat64, masked, 1e-12);
}

TEST(InputAttention, KernelMatchesLibTorchInFloat32) {
  torch::manual_seed(1);
  expect_same(64, 50, 4, 128, torch::kFloat32, true, 1e-4);  // sums of 50 x 128 products
}

// One thread or several: the same values to the bit (each example is one task).
TEST(InputAttention, ResultDoesNotDependOnTheThreadCount) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({16, 20, 32}), u = torch::randn({16, 4, 32}), up = torch::randn({16, 4, 32});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  Outcome one = run(x, u, torch::Tensor(), up, input_attention);
  at::set_num_threads(std::max(2, threads));
  Outcome many = run(x, u, torch::Tensor(), up, input_attention);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.out, many.out));
  EXPECT_TRUE(torch::equal(one.dx, many.dx));
  EXPECT_TRUE(torch::equal(one.du, many.du));
}

TEST(InputAttention, RefusesMismatchedShapes) {
  EXPECT_THROW(input_attention(torch::randn({2, 3, 4}), torch::randn({2, 1, 5}), torch::Tensor()), c10::Error);
  EXPECT_THROW(input_attention(torch::randn({2, 3, 4}), torch::randn({3, 1, 4}), torch::Tensor()), c10::Error);
  EXPECT_THROW(input_attention(torch::randn({2, 3, 4}), torch::randn({2, 1, 4}), torch::zeros({2, 4})), c10::Error);
}

}  // namespace
}  // namespace sherl
