#pragma once
// {LayerNorm(x), x[:, :rows]} for a pre-norm layer that computes only its first `rows`
// tokens (the late route's last layer pools token 0): the residual is those rows of the
// layer's input, the attention reads the normalised input of every token.
//
// Why one function: as two uses of x, autograd gives the slice a gradient of x's full size
// (filled with zeros, the rows copied in) and adds it to the LayerNorm's input gradient:
// two passes over [B, T, d] per step for a gradient of [B, rows, d]. Here the backward adds
// the rows' gradient into the LayerNorm's input gradient in place. LibTorch operations
// throughout, so any device.
#include <torch/torch.h>

#include <array>

namespace sherl {

std::array<torch::Tensor, 2> layer_norm_and_leading_rows(const torch::Tensor& x, const torch::Tensor& weight,
                                                         const torch::Tensor& bias, double eps, int64_t rows);
inline std::array<torch::Tensor, 2> layer_norm_and_leading_rows(const torch::Tensor& x, const torch::nn::LayerNorm& norm,
                                                                int64_t rows) {
  return layer_norm_and_leading_rows(x, norm->weight, norm->bias, norm->options.eps(), rows);
}

}  // namespace sherl
