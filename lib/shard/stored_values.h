#pragma once
// Feature values as a dtype stores them. For i8 (formats/shard.md) that is symmetric absmax
// int8 quantisation of rows: one float32 scale per row of the last axis, value = q * scale.
// The one owner of that formula: the writer quantises with it, every reader dequantises
// with it, and predictions on raw input round with it as training's shards did.
#include <torch/torch.h>

#include <cstdint>

#include "lib/shard/format.h"  // FeatureDType

namespace sherl {

struct Int8Rows {
  torch::Tensor values;  // int8, the input's shape
  torch::Tensor scales;  // float32, the input's shape less its last axis
};

// x [..., d] of any floating dtype, on any device: scale = max_j |x[.., j]| / 127 per row and
// q = round(x / scale) (half to even; 0 for a row of zeros, whose scale is 0).
Int8Rows quantise_rows(const torch::Tensor& x);

// Which of `scales` (float32) are valid i8 scales (layout::is_int8_scale), as a bool tensor.
torch::Tensor valid_int8_scales(const torch::Tensor& scales);

// values [..., d] int8 and scales [...] float32 -> float32 [..., d]: values * scales.
torch::Tensor dequantise_rows(const torch::Tensor& values, const torch::Tensor& scales);

// The same on raw memory: dst[r * d + j] = values[r * d + j] * scales[r] for r < rows (the
// batch loader's copies, straight into a batch).
void dequantise_rows_into(const int8_t* values, const float* scales, int64_t rows, int64_t d, float* dst);

// float32 features [..., d] as a shard of `dtype` returns them when read: rounded to f16 or
// bf16, or quantised and dequantised (i8).
torch::Tensor round_to_stored(const torch::Tensor& features, FeatureDType dtype);

}  // namespace sherl
