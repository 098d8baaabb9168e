#pragma once
// The MTSA's "linear-ln" projections of all N tiers, x_i = LayerNorm_h(W_i F_i + b_i) with
// affine gamma_i, beta_i, as one CPU kernel with a hand-written backward.
//
// Why: LibTorch ran, per tier, a product, a LayerNorm and (for the shallow tiers) a stack
// copy, each a separate pass over [B*T, h] values forward and again backward: 6 tiers made
// 18 passes and 24 dispatched operators per step. Here each thread takes a range of rows
// and, tier by tier, runs one single-threaded BLAS product into the row's place in the
// output and normalises it while it is still in cache; the backward pass goes back through
// the LayerNorm, then runs each weight gradient's product over all rows. (It runs once: a
// second backward through the same graph is refused.)
// The tiers are cached features that never need a gradient, so none is computed for them
// (where one is wanted, the kernel does not apply). Float16 tiers (a batch of an f16 cache,
// half the bytes of float32) are read by float32 parameters, a block of rows at a time.
//
// Scratch memory is bounded by the row blocks: the LayerNorms' input gradients overwrite
// their saved normalised values, and each weight gradient is one product over every row
// (by blocks of columns), not a sum of per-thread copies. Results do not depend on
// scheduling; the weight gradients do not depend on the thread count either, the bias and
// affine gradients sum per-thread partial sums in an order that does.
#include <torch/torch.h>

#include <array>
#include <vector>

namespace sherl {

struct LinearLnParameters {
  std::vector<torch::Tensor> weight, bias;  // per tier: [h, d], [h]
  std::vector<torch::Tensor> gamma, beta;   // per tier: [h], [h] (the LayerNorm's affine)
  double eps = 1e-5;
};

// Whether project_tiers_linear_ln runs its kernel: float32/float64 parameters on the CPU,
// tiers of their dtype (or float16 for float32) that need no gradient, parameters of
// matching shapes and a BLAS exporting sgemm_/dgemm_.
bool tier_projections_kernel_applies(const torch::Tensor& tiers, const LinearLnParameters& p);

// tiers [M, N, d] of the parameters' dtype, or float16 with float32 parameters (a tier's d
// values contiguous; rows may be strided). Returns
// {shallow [M, N-1, h], guide [M, h]}: tiers 0..N-2 projected and stacked, tier N-1 apart,
// as the MTSA's aggregation takes them. Only where tier_projections_kernel_applies.
std::array<torch::Tensor, 2> project_tiers_linear_ln(const torch::Tensor& tiers, const LinearLnParameters& p);

}  // namespace sherl
