// float16 -> float32 conversion with the CPU's conversion instructions against LibTorch's
// (c10::Half) for every one of the 65536 float16 values: normals, subnormals, zeros of both
// signs, infinities and NaNs.
#include "lib/core/float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace sherl {
namespace {

TEST(Float16, EveryValueConvertsAsLibTorchDoes) {
  // An odd count exercises the tail after the 8-wide loop.
  const int64_t n = 65536 + 5;
  torch::Tensor bits = torch::arange(n, torch::kInt32).remainder(65536).to(torch::kInt16);
  torch::Tensor half = bits.view(torch::kFloat16);
  torch::Tensor ours = torch::empty({n}, torch::kFloat32);
  half_to_float(half.data_ptr<c10::Half>(), ours.data_ptr<float>(), n);
  torch::Tensor theirs = half.to(torch::kFloat32);
  int64_t nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float a = ours[i].item<float>(), b = theirs[i].item<float>();
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << "bits " << i;
      ++nan;
      continue;
    }
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    ASSERT_EQ(ua, ub) << "float16 bits 0x" << std::hex << (i % 65536);
  }
  EXPECT_EQ(nan, 2 * 1023);  // 2 signs x 1023 non-zero mantissas with the maximal exponent
}

TEST(Float16, ToFloat32KeepsShapeAndValues) {
  torch::Tensor x = torch::randn({3, 5, 7}).to(torch::kFloat16);
  torch::Tensor y = to_float32(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(y, x.to(torch::kFloat32)));
  // Not contiguous, or not float16: LibTorch's conversion, same result.
  EXPECT_TRUE(torch::equal(to_float32(x.transpose(0, 2)), x.transpose(0, 2).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(to_float32(x.to(torch::kFloat64)), x.to(torch::kFloat32)));
}

}  // namespace
}  // namespace sherl
