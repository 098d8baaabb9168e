// layer_norm_and_leading_rows against LayerNorm and narrow composed by autograd: outputs,
// and the gradients of the input and the affine, with both outputs used or only one.
#include "lib/model/norm_and_leading_rows.h"

#include <gtest/gtest.h>

namespace sherl {
namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(NormAndLeadingRows, MatchesLayerNormAndNarrow) {
  torch::manual_seed(0);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({16}).eps(1e-6));
  norm->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(1 + 0.3 * torch::randn({16}, torch::kFloat64));
    norm->bias.copy_(torch::randn({16}, torch::kFloat64));
  }
  const torch::Tensor x0 = torch::randn({3, 7, 16}, torch::kFloat64);
  const torch::Tensor up_norm = torch::randn({3, 7, 16}, torch::kFloat64), up_rows = torch::randn({3, 2, 16}, torch::kFloat64);
  for (int use : {0, 1, 2}) {  // both outputs, the normalised only, the rows only
    auto run = [&](bool fused) {
      torch::Tensor x = x0.clone().requires_grad_(true);
      norm->zero_grad();
      torch::Tensor normed, rows;
      if (fused) {
        auto out = layer_norm_and_leading_rows(x, norm, 2);
        normed = out[0];
        rows = out[1];
      } else {
        normed = norm(x);
        rows = x.narrow(1, 0, 2);
      }
      torch::Tensor loss = (use != 2 ? (normed * up_norm).sum() : torch::zeros({}, torch::kFloat64)) +
                           (use != 1 ? (rows * up_rows).sum() : torch::zeros({}, torch::kFloat64));
      loss.backward();
      auto grad = [](const torch::Tensor& p) { return p.grad().defined() ? p.grad().clone() : torch::zeros_like(p); };
      return std::vector<torch::Tensor>{normed.detach(), rows.detach(), grad(x), grad(norm->weight), grad(norm->bias)};
    };
    auto ours = run(true), theirs = run(false);
    for (size_t k = 0; k < ours.size(); ++k) EXPECT_LT(max_diff(ours[k], theirs[k]), 1e-12) << "use " << use << " tensor " << k;
  }
}

}  // namespace
}  // namespace sherl
