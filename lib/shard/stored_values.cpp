#include "lib/shard/stored_values.h"

#include "lib/shard/shard.h"         // torch_dtype
#include "lib/shard/shard_layout.h"  // kMaxInt8Scale

namespace sherl {

Int8Rows quantise_rows(const torch::Tensor& x) {
  const torch::Tensor values = x.to(torch::kFloat32);
  torch::Tensor scales = values.abs().amax(-1) / 127.0f;
  // A row of zeros keeps its zero scale; dividing it by 1 gives its zeros.
  const torch::Tensor divisor = torch::where(scales > 0, scales, torch::ones_like(scales)).unsqueeze(-1);
  torch::Tensor q = torch::round(values / divisor).clamp_(-127, 127).to(torch::kInt8);
  return {std::move(q), std::move(scales)};
}

torch::Tensor valid_int8_scales(const torch::Tensor& scales) {
  return (scales >= 0) & (scales <= layout::kMaxInt8Scale);
}

torch::Tensor dequantise_rows(const torch::Tensor& values, const torch::Tensor& scales) {
  return values.to(torch::kFloat32) * scales.to(torch::kFloat32).unsqueeze(-1);
}

void dequantise_rows_into(const int8_t* values, const float* scales, int64_t rows, int64_t d, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = scales[r];
    const int8_t* q = values + r * d;
    float* out = dst + r * d;
    for (int64_t j = 0; j < d; ++j) out[j] = static_cast<float>(q[j]) * scale;
  }
}

torch::Tensor round_to_stored(const torch::Tensor& features, FeatureDType dtype) {
  if (dtype == FeatureDType::I8) {
    const Int8Rows q = quantise_rows(features);
    return dequantise_rows(q.values, q.scales);
  }
  return features.to(torch_dtype(dtype)).to(torch::kFloat32);
}

}  // namespace sherl
