// sherl::inverted_dropout: dropout with a counter-based mask on the CPU. The mask keeps the
// right fraction at the right scale, follows torch::manual_seed (so a resumed run sees the
// same masks), and does not depend on the thread count.
#include "sherl/kernels/dropout.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace sherl {
namespace {

TEST(Dropout, KeepsOneMinusPScaledByItsInverse) {
  torch::manual_seed(0);
  const double p = 0.1;
  torch::Tensor x = torch::ones({400, 1001});  // odd count: the last draw uses half a word
  torch::Tensor y = inverted_dropout(x, p, true);
  const double kept = (y != 0).to(torch::kFloat64).mean().item<double>();
  // 400400 Bernoulli draws: the standard error of the mean is 0.0005.
  EXPECT_NEAR(kept, 1 - p, 0.003);
  EXPECT_NEAR(y.index({y != 0}).min().item<double>(), 1 / (1 - p), 1e-6);
  EXPECT_NEAR(y.index({y != 0}).max().item<double>(), 1 / (1 - p), 1e-6);
  // Neighbouring values are independent: both halves of a 64-bit draw are used.
  torch::Tensor kept_mask = (y != 0).reshape({-1}).to(torch::kFloat64);
  const double both = (kept_mask.slice(0, 0, -1, 2) * kept_mask.slice(0, 1, kept_mask.size(0), 2)).mean().item<double>();
  EXPECT_NEAR(both, (1 - p) * (1 - p), 0.004);
}

TEST(Dropout, FollowsTheGlobalSeedAndNotTheThreadCount) {
  torch::Tensor x = torch::randn({64, 50, 128});
  const int threads = at::get_num_threads();
  torch::manual_seed(7);
  at::set_num_threads(1);
  torch::Tensor a = inverted_dropout(x, 0.1, true);
  torch::Tensor a_next = inverted_dropout(x, 0.1, true);
  torch::manual_seed(7);
  at::set_num_threads(std::max(2, threads));
  torch::Tensor b = inverted_dropout(x, 0.1, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, a_next));  // each call draws a new mask
}

TEST(Dropout, IsTheIdentityWhenNotTrainingOrPIsZero) {
  torch::Tensor x = torch::randn({10, 10});
  EXPECT_TRUE(torch::equal(inverted_dropout(x, 0.1, false), x));
  EXPECT_TRUE(torch::equal(inverted_dropout(x, 0.0, true), x));
}

TEST(Dropout, GradientIsTheMask) {
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({32, 33}, torch::requires_grad());
  torch::Tensor y = inverted_dropout(x, 0.25, true);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad() * x, y));
}

TEST(Dropout, MaskIsAFunctionOfSizesPAndSeed) {
  EXPECT_TRUE(torch::equal(dropout_mask({5, 7}, 0.5, 42), dropout_mask({5, 7}, 0.5, 42)));
  EXPECT_FALSE(torch::equal(dropout_mask({5, 7}, 0.5, 42), dropout_mask({5, 7}, 0.5, 43)));
}

}  // namespace
}  // namespace sherl
