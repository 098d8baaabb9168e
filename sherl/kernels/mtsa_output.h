#pragma once
// The end of the MTSA's "ln" output, out = Dropout(LayerNorm_d(y)) + gate * last, as one
// CPU kernel with a hand-written backward (y = W_o relu(z) + b_o, last = F_{N-1}).
//
// Why: LibTorch made these five passes over [B*T, d] values forward (LayerNorm, the dropout
// product, the gate product, the sum) and as many backward (the dropout product, the
// LayerNorm's two, the gate's product and sum), each streaming megabytes through the cache
// for a few operations per value: about a sixth of a training step here. Here each thread
// takes a range of rows once per pass. `last` is a cached tier that needs no gradient.
#include <torch/torch.h>

namespace sherl {

// Whether mtsa_output_ln runs its kernel: float32/float64 on the CPU, y [M, d] contiguous,
// last [M, d] with contiguous rows and no gradient, gamma/beta [d], gate [1], and a mask
// [M, d] of y's dtype or undefined.
bool mtsa_output_kernel_applies(const torch::Tensor& y, const torch::Tensor& last, const torch::Tensor& gamma,
                                const torch::Tensor& beta, const torch::Tensor& gate, const torch::Tensor& mask);

// out = (LayerNorm(y; gamma, beta, eps) * mask) + gate * last; mask undefined: no dropout
// (its values are 0 or 1 / (1 - p), sherl/kernels/dropout.h). Gradients for y, gamma, beta, gate.
torch::Tensor mtsa_output_ln(const torch::Tensor& y, const torch::Tensor& last, const torch::Tensor& gamma,
                             const torch::Tensor& beta, double eps, const torch::Tensor& gate, const torch::Tensor& mask);

}  // namespace sherl
