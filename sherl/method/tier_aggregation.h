#pragma once
// The MTSA's anti-redundant aggregation of projected tiers (docs/method.md, steps 3-5), per
// token p, for shallow tiers x_1..x_M and guide g:
//
//   r_i = sum_j relu(cos(x_i, x_j))        (1 for padding tokens)
//   a_i = relu(w^T (x_i * g) + c) / r_i,   a_i = a_i / (sum_k |a_k| + 1e-8)
//   z   = g + sum_i a_i x_i
//
// Two implementations with the same results: LibTorch operations (any device and dtype; the
// reference of the tests), and on the CPU a direct kernel with a hand-written backward that
// makes one pass over each token's M x h values instead of a dozen tensor-wide operations
// and thousands of tiny matrix products, which took a large share of a training step
// (bench/README.md, "Figures behind the code").
#include <torch/torch.h>

namespace sherl {

struct TierAggregation {
  torch::Tensor z;           // [P, h], differentiable in shallow, guide, weight and bias
  torch::Tensor attention;   // a after L1 normalisation, [P, M] (not differentiable)
  torch::Tensor redundancy;  // r, [P, M] (not differentiable)
};

// shallow [P, M, h] (M >= 1), guide [P, h], weight [h] and bias [1] of the attention's
// Linear(h, 1), valid [P] bool (undefined: every token is real).
TierAggregation aggregate_tiers(const torch::Tensor& shallow, const torch::Tensor& guide,
                                const torch::Tensor& weight, const torch::Tensor& bias,
                                const torch::Tensor& valid);

// The same in LibTorch operations, on any device and dtype.
TierAggregation aggregate_tiers_reference(const torch::Tensor& shallow, const torch::Tensor& guide,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          const torch::Tensor& valid);

}  // namespace sherl
