// Int8 rows (dtype i8): the quantisation's bound and edge cases, and one formula in every
// form (tensors, raw memory, the values a shard returns).
#include <gtest/gtest.h>

#include <limits>

#include "lib/shard/shard.h"
#include "lib/shard/stored_values.h"

namespace sherl {
namespace {

TEST(Int8Rows, EachValueWithinHalfAScaleAndTheRowMaximumExact) {
  torch::manual_seed(3);
  // Rows of very different magnitudes, as hidden states of different tiers are.
  torch::Tensor x = torch::randn({7, 4, 96}) * torch::logspace(-3, 3, 4).view({1, 4, 1});
  const Int8Rows q = quantise_rows(x);
  ASSERT_EQ(q.values.scalar_type(), torch::kInt8);
  ASSERT_EQ(q.scales.sizes(), (std::vector<int64_t>{7, 4}));
  EXPECT_LE(q.values.abs().max().item<int>(), 127);
  EXPECT_TRUE(torch::equal(q.values.to(torch::kInt32).abs().amax(-1), torch::full({7, 4}, 127, torch::kInt32)));
  const torch::Tensor error = (dequantise_rows(q.values, q.scales) - x).abs();
  // Half a scale, with a float32 rounding of the product to spare.
  EXPECT_TRUE((error <= q.scales.unsqueeze(-1) * (0.5 + 1e-5)).all().item<bool>()) << error.max();
  EXPECT_TRUE(torch::allclose(q.scales, x.abs().amax(-1) / 127.0f));
}

TEST(Int8Rows, ZeroRowsTinyValuesAndSigns) {
  torch::Tensor x = torch::zeros({3, 2, 5});
  x[1][0] = torch::tensor({1e-30f, -2e-30f, 0.0f, 5e-31f, 2e-30f});
  x[2][1] = torch::tensor({-3.0f, 3.0f, 1.5f, -1.5f, 0.0f});
  const Int8Rows q = quantise_rows(x);
  EXPECT_EQ(q.scales[0][0].item<float>(), 0.0f);  // a row of zeros: scale 0, values 0
  EXPECT_TRUE(torch::equal(q.values[0], torch::zeros({2, 5}, torch::kInt8)));
  EXPECT_TRUE(torch::equal(q.values[2][1], torch::tensor({-127, 127, 64, -64, 0}, torch::kInt8)));  // 63.5: to even
  EXPECT_GT(q.scales[1][0].item<float>(), 0.0f);
  EXPECT_EQ(q.values[1][0][1].item<int>(), -127);
  EXPECT_TRUE(torch::isfinite(dequantise_rows(q.values, q.scales)).all().item<bool>());
}

TEST(Int8Rows, RawMemoryAndRoundToStoredUseTheSameFormula) {
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({6, 3, 33});
  const Int8Rows q = quantise_rows(x);
  torch::Tensor raw = torch::empty({6, 3, 33});
  dequantise_rows_into(q.values.data_ptr<int8_t>(), q.scales.data_ptr<float>(), 18, 33, raw.data_ptr<float>());
  EXPECT_TRUE(torch::equal(raw, dequantise_rows(q.values, q.scales)));
  EXPECT_TRUE(torch::equal(round_to_stored(x, FeatureDType::I8), raw));
  EXPECT_TRUE(torch::equal(round_to_stored(x, FeatureDType::F16), x.to(torch::kFloat16).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(round_to_stored(x, FeatureDType::F32), x));
}

TEST(Int8Rows, RowBytesCountTheScales) {
  EXPECT_EQ(row_bytes(FeatureDType::I8, 6, 128), 6 * 128 + 6 * 4);
  EXPECT_EQ(row_bytes(FeatureDType::F16, 6, 128), 6 * 128 * 2);
  EXPECT_EQ(parse_feature_dtype("int8"), FeatureDType::I8);
  EXPECT_EQ(to_string(FeatureDType::I8), "i8");
  EXPECT_EQ(torch_dtype(FeatureDType::I8), torch::kInt8);
}

}  // namespace
}  // namespace sherl
