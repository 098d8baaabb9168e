#pragma once
// Softmax attention of a few query rows over a layer's inputs:
//
//   mixed[b, j] = sum_t p[b, j, t] x[b, t],   p[b, j, :] = softmax_t(<u[b, j], x[b, t]> + bias[b, t])
//
// This is the whole attention of a layer whose outputs are read for the first tokens only
// (EncoderLayer::forward with queries): there u = W_k^T q / sqrt(head_dim) per head, and
// keys and values are never formed (lib/model/encoder_layer.cpp derives it). Two
// implementations with the same results: LibTorch operations (any device and dtype), and on
// the CPU a direct kernel with a hand-written backward, one example per task. LibTorch 1.13
// runs these batched products as one small matrix product per example, each through the
// dispatcher, which cost a noticeable share of a training step (bench/README.md, "Figures
// behind the code").
#include <torch/torch.h>

namespace sherl {

// x [B, T, d], u [B, J, d], bias [B, T] added to the scores (a mask: not differentiable;
// undefined: none). Returns mixed [B, J, d], differentiable in x and u.
torch::Tensor input_attention(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias);

// The same in LibTorch operations.
torch::Tensor input_attention_reference(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias);

}  // namespace sherl
