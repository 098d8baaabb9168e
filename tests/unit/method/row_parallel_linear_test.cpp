// row_parallel_linear (the MTSA's projections, split by rows across LibTorch's threads with
// a hand-written backward) against torch::nn::functional::linear: outputs and gradients,
// with strided rows (one tier of a [B, T, N, d] batch), without bias, and with inputs that
// need no gradient (cached tiers).
#include "sherl/kernels/row_parallel_linear.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace sherl {
namespace {

struct Result {
  torch::Tensor y, dx, dw, db;
};

template <typename Linear>
Result run(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& upstream,
           bool x_needs_grad, Linear linear) {
  auto xl = x.detach().clone().requires_grad_(x_needs_grad);
  auto wl = w.detach().clone().requires_grad_(true);
  auto bl = b.defined() ? b.detach().clone().requires_grad_(true) : torch::Tensor();
  // A strided view of the leaf, as the MTSA reads one tier out of [B, T, N, d].
  auto input = xl.dim() == 4 ? xl.select(2, 1) : xl;
  Result r;
  r.y = linear(input, wl, bl);
  (r.y * upstream).sum().backward();
  r.dx = xl.grad();
  r.dw = wl.grad();
  if (bl.defined()) r.db = bl.grad();
  return r;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void expect_same(torch::IntArrayRef x_sizes, int64_t out, bool bias, bool x_needs_grad, torch::Dtype dtype,
                 double tolerance) {
  auto options = torch::TensorOptions().dtype(dtype);
  torch::Tensor x = torch::randn(x_sizes, options);
  const int64_t in = x_sizes.back();
  torch::Tensor w = torch::randn({out, in}, options), b = bias ? torch::randn({out}, options) : torch::Tensor();
  std::vector<int64_t> y_sizes(x_sizes.begin(), x_sizes.end());
  if (y_sizes.size() == 4) y_sizes.erase(y_sizes.begin() + 2);
  y_sizes.back() = out;
  torch::Tensor upstream = torch::randn(y_sizes, options);
  Result ours = run(x, w, b, upstream, x_needs_grad, row_parallel_linear);
  Result theirs = run(x, w, b, upstream, x_needs_grad, [](const torch::Tensor& x, const torch::Tensor& w,
                                                          const torch::Tensor& b) {
    return torch::nn::functional::linear(x, w, b);
  });
  ASSERT_EQ(ours.y.sizes(), theirs.y.sizes());
  EXPECT_LT(max_diff(ours.y, theirs.y), tolerance);
  EXPECT_LT(max_diff(ours.dw, theirs.dw), tolerance * 10);
  EXPECT_EQ(ours.dx.defined(), x_needs_grad);
  if (x_needs_grad) EXPECT_LT(max_diff(ours.dx, theirs.dx), tolerance);
  EXPECT_EQ(ours.db.defined(), bias);
  if (bias) EXPECT_LT(max_diff(ours.db, theirs.db), tolerance * 10);
}

TEST(RowParallelLinear, RunsItsOwnKernelWithThisBlas) { EXPECT_TRUE(row_parallel_linear_available()); }

TEST(RowParallelLinear, MatchesLinearInFloat64) {
  torch::manual_seed(0);
  expect_same({1000, 37}, 13, true, true, torch::kFloat64, 1e-12);
  expect_same({7, 150, 3, 37}, 13, true, false, torch::kFloat64, 1e-12);  // strided rows, cached input
  expect_same({4, 250, 37}, 13, false, true, torch::kFloat64, 1e-12);     // no bias
  expect_same({3, 37}, 5, true, true, torch::kFloat64, 1e-12);            // fewer rows than one task
}

TEST(RowParallelLinear, MatchesLinearInFloat32) {
  torch::manual_seed(1);
  expect_same({64, 50, 6, 128}, 64, true, false, torch::kFloat32, 1e-4);
  expect_same({64, 50, 64}, 128, true, true, torch::kFloat32, 1e-4);
}

TEST(RowParallelLinear, OneThreadOrSeveralAgree) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({2000, 48}, torch::kFloat64), w = torch::randn({24, 48}, torch::kFloat64);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::Tensor one = row_parallel_linear(x, w, torch::Tensor());
  at::set_num_threads(std::max(2, threads));
  torch::Tensor many = row_parallel_linear(x, w, torch::Tensor());
  at::set_num_threads(threads);
  EXPECT_LT(max_diff(one, many), 1e-12);
}

}  // namespace
}  // namespace sherl
