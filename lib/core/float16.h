#pragma once
// float16 -> float32 conversion with the CPU's conversion instructions (F16C) where it has
// them. LibTorch 1.13 converts element by element in software, and every cached feature
// read for training passes through this conversion (bench/README.md has the cost).
#include <torch/torch.h>

#include <cstdint>

namespace sherl {

// dst[k] = float(src[k]) for k < n.
void half_to_float(const c10::Half* src, float* dst, int64_t n);

// t as float32 (t.to(torch::kFloat32), through half_to_float for a contiguous CPU float16 t).
torch::Tensor to_float32(const torch::Tensor& t);

// t itself, or as float32 when it is float16: the values that float16 batches of tiers are
// computed with.
torch::Tensor widen_half(const torch::Tensor& t);

}  // namespace sherl
