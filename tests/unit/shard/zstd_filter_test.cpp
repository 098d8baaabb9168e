// The zstd HDF5 filter called directly: round trip, and corrupt input refused cleanly.
#include <gtest/gtest.h>
#include <zstd.h>

#include <cstring>
#include <vector>

#include "lib/shard/zstd_filter.h"

namespace sherl {
namespace {

// Runs the filter on a copy of `in` held in an HDF5-allocated buffer, as HDF5 would.
std::vector<unsigned char> run(unsigned flags, std::vector<unsigned> cd, const std::vector<unsigned char>& in,
                               bool* ok) {
  size_t buf_size = in.size();
  void* buf = H5allocate_memory(buf_size ? buf_size : 1, false);
  if (!in.empty()) std::memcpy(buf, in.data(), in.size());
  size_t n = zstd_filter_class()->filter(flags, cd.size(), cd.data(), in.size(), &buf_size, &buf);
  *ok = n != 0;
  std::vector<unsigned char> out(static_cast<unsigned char*>(buf), static_cast<unsigned char*>(buf) + n);
  H5free_memory(buf);
  return out;
}

std::vector<unsigned char> sample(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 7) % 13);
  return v;
}

TEST(ZstdFilter, RoundTrip) {
  auto data = sample(100000);
  bool ok = false;
  auto packed = run(0, {3, 100000}, data, &ok);
  ASSERT_TRUE(ok);
  EXPECT_LT(packed.size(), data.size() / 10);
  EXPECT_EQ(run(H5Z_FLAG_REVERSE, {3, 100000}, packed, &ok), data);
  EXPECT_TRUE(ok);
  // Without cd_values[1] (as other writers store it) it still decodes.
  EXPECT_EQ(run(H5Z_FLAG_REVERSE, {3}, packed, &ok), data);
  EXPECT_TRUE(ok);
}

TEST(ZstdFilter, RefusesCorruptInput) {
  bool ok = true;
  run(H5Z_FLAG_REVERSE, {3, 4096}, sample(4096), &ok);  // not a zstd frame
  EXPECT_FALSE(ok);
  auto packed = run(0, {3, 100000}, sample(100000), &ok);
  ASSERT_TRUE(ok);
  // Content larger than the chunk: refused before allocating.
  run(H5Z_FLAG_REVERSE, {3, 1000}, packed, &ok);
  EXPECT_FALSE(ok);
  // Truncated frame.
  run(H5Z_FLAG_REVERSE, {3, 100000}, std::vector<unsigned char>(packed.begin(), packed.begin() + packed.size() / 2),
      &ok);
  EXPECT_FALSE(ok);
  // Damaged payload: must fail or decode to something, never crash.
  for (size_t i = 8; i < packed.size(); i += packed.size() / 7 + 1) {
    auto bad = packed;
    bad[i] ^= 0x5a;
    run(H5Z_FLAG_REVERSE, {3, 100000}, bad, &ok);
  }
  run(H5Z_FLAG_REVERSE, {3, 100000}, {}, &ok);
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace sherl
