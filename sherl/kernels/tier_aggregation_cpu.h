#pragma once
// CPU kernels of aggregate_tiers() (sherl/method/tier_aggregation.h): the forward and its
// hand-derived backward, one token at a time, parallel over tokens. Inputs are contiguous
// float32 or float64 CPU tensors; shapes as in aggregate_tiers().
#include <torch/torch.h>

#include <array>

namespace sherl::cpu {

// Returns {z [P, h], attention [P, M], redundancy [P, M]}.
std::array<torch::Tensor, 3> aggregate_tiers_forward(const torch::Tensor& shallow, const torch::Tensor& guide,
                                                     const torch::Tensor& weight, const torch::Tensor& bias,
                                                     const torch::Tensor& valid);

// Gradients {d shallow, d guide, d weight [h], d bias [1]} for the gradient dz of z.
std::array<torch::Tensor, 4> aggregate_tiers_backward(const torch::Tensor& dz, const torch::Tensor& shallow,
                                                      const torch::Tensor& guide, const torch::Tensor& weight,
                                                      const torch::Tensor& bias, const torch::Tensor& valid);

}  // namespace sherl::cpu
