// Shard sets: manifest round trip, global indexing, and verification of sound and broken sets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include <hdf5.h>

#include "lib/core/error.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"
#include "shard_test_util.h"

namespace sherl {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

// Two shards (6 + 6 examples, ids distinct) and their manifest.
Manifest write_set(const std::string& dir, FeatureDType dtype = FeatureDType::F16, bool contiguous = false) {
  Manifest m;
  m.info = test::test_info(dtype);
  for (int s = 0; s < 2; ++s) {
    std::string name = "shard-0000" + std::to_string(s) + ".h5";
    std::string path = (fs::path(dir) / name).string();
    auto examples = test::ragged_examples(m.info, 1000 * s);
    std::string sha = test::write_shard(path, m.info, examples, s, {}, contiguous);
    m.shards.push_back({name, static_cast<int64_t>(examples.size()), sha, static_cast<int64_t>(fs::file_size(path))});
  }
  write_manifest(dir, m);
  return m;
}

bool any_contains(const std::vector<std::string>& messages, const std::string& needle) {
  for (const auto& m : messages)
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

TEST(Manifest, RoundTrip) {
  ScratchDir dir;
  Manifest written = write_set(dir.path());
  Manifest read = read_manifest(dir.path());
  ASSERT_EQ(read.shards.size(), 2u);
  EXPECT_EQ(read.total_examples(), 12);
  EXPECT_EQ(read.shards[1].file, "shard-00001.h5");
  EXPECT_EQ(read.shards[1].sha256, written.shards[1].sha256);
  EXPECT_EQ(read.shards[1].bytes, written.shards[1].bytes);
  EXPECT_EQ(read.info.backbone, written.info.backbone);
  EXPECT_EQ(read.info.label_names, written.info.label_names);
}

TEST(Manifest, AbsentMeansIncomplete) {
  ScratchDir dir;
  try {
    read_manifest(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("incomplete shard set"), std::string::npos) << e.what();
  }
}

TEST(ShardSet, GlobalIndexRunsThroughShardsInOrder) {
  ScratchDir dir;
  write_set(dir.path());
  ShardSet set(dir.path());
  EXPECT_EQ(set.size(), 12);
  EXPECT_EQ(set.locate(0), std::make_pair(int64_t{0}, int64_t{0}));
  EXPECT_EQ(set.locate(5), std::make_pair(int64_t{0}, int64_t{5}));
  EXPECT_EQ(set.locate(6), std::make_pair(int64_t{1}, int64_t{0}));
  EXPECT_EQ(set.read(7).id, 1007);
  EXPECT_EQ(set.read(7).features.size(0), 3000);
  EXPECT_THROW(set.locate(12), Error);
  EXPECT_FALSE(set.random_access());
}

TEST(ShardSet, ContiguousShardsAllowRandomAccess) {
  ScratchDir dir;
  write_set(dir.path(), FeatureDType::F16, /*contiguous=*/true);
  ShardSet set(dir.path());
  EXPECT_TRUE(set.random_access());
  EXPECT_EQ(set.read(7).id, 1007);
  EXPECT_TRUE(verify_shard_set(dir.path()).empty());
}

TEST(VerifyShardSet, SoundSetHasNoProblems) {
  ScratchDir dir;
  write_set(dir.path());
  auto problems = verify_shard_set(dir.path());
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(VerifyShardSet, ReportsMissingShardTempFileAndDuplicateIds) {
  ScratchDir dir;
  write_set(dir.path());
  fs::remove(dir.file("shard-00001.h5"));
  std::ofstream(dir.file(".shard-00002.h5.tmp.123")) << "partial";
  auto problems = verify_shard_set(dir.path());
  EXPECT_TRUE(any_contains(problems, "shard-00001.h5: listed in manifest.json but missing"));
  EXPECT_TRUE(any_contains(problems, ".shard-00002.h5.tmp.123: temporary file"));

  ScratchDir dup;
  Manifest m;
  m.info = test::test_info(FeatureDType::F32);
  for (int s = 0; s < 2; ++s) {
    std::string name = "s" + std::to_string(s) + ".h5";
    std::string sha = test::write_shard(dup.file(name), m.info, test::ragged_examples(m.info), s);
    m.shards.push_back({name, 6, sha, static_cast<int64_t>(fs::file_size(dup.file(name)))});
  }
  write_manifest(dup.path(), m);
  EXPECT_TRUE(any_contains(verify_shard_set(dup.path()), "dataset 'example_id': id 100 occurs more than once"));
}

// Overwrites one value of a dataset of a written shard in place (what a bit flip or a foreign
// writer could leave), through the HDF5 library: the writer itself refuses non-finite values.
// The value is of `mem_type` (HDF5 converts it to the stored type); `at` is its index.
template <typename T>
void poke(const std::string& path, const char* name, std::vector<hsize_t> at, T value,
          hid_t mem_type = H5T_NATIVE_FLOAT) {
  register_zstd_filter();
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
  hid_t space = H5Dget_space(dataset);
  const std::vector<hsize_t> count(at.size(), 1);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, at.data(), nullptr, count.data(), nullptr);
  hid_t one = H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr);
  EXPECT_GE(H5Dwrite(dataset, mem_type, one, space, H5P_DEFAULT, &value), 0);
  H5Sclose(one);
  H5Sclose(space);
  H5Dclose(dataset);
  H5Fclose(file);
}

template <typename T>
void poke_feature(const std::string& path, hsize_t row, hsize_t tier, hsize_t column, T value,
                  hid_t mem_type = H5T_NATIVE_FLOAT) {
  poke(path, "features", {row, tier, column}, value, mem_type);
}

TEST(VerifyShardSet, ReportsNonFiniteFeatures) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F32);
  auto examples = test::ragged_examples(info);
  test::write_shard(dir.file("nan.h5"), info, examples);
  poke_feature(dir.file("nan.h5"), 1 + 3000 + 4, 1, 3, std::numeric_limits<float>::quiet_NaN());  // example 2, token 4
  auto problems = verify_shard_file(dir.file("nan.h5"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], dir.file("nan.h5") + ": dataset 'features': example 2 (id 114) has NaN or infinite values");
  // Readers that convert features refuse them too, naming the file and the example.
  ShardReader reader(dir.file("nan.h5"));
  EXPECT_NO_THROW(reader.read(1));
  try {
    reader.read_range(0, 6);
    FAIL() << "read_range accepted NaN features";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("nan.h5") + ": example 114: features hold NaN or infinite values");
  }
  EXPECT_NO_THROW(reader.read_range(0, 6, /*stored_dtype=*/true));  // checked where batches are made
}

// Verification checks f16 and bf16 values on their bits: the all-ones exponent (Inf, NaN) is
// found, the largest finite value is not.
TEST(VerifyShardSet, FindsNonFiniteValuesOfEveryDtypeByTheirBits) {
  for (FeatureDType dtype : {FeatureDType::F16, FeatureDType::BF16}) {
    SCOPED_TRACE(to_string(dtype));
    ScratchDir dir;
    auto info = test::test_info(dtype);
    test::write_shard(dir.file("s.h5"), info, test::ragged_examples(info));
    const hsize_t example2_token4 = 1 + 3000 + 4;
    float largest;
    if (dtype == FeatureDType::F16) {  // an HDF5 float type: floats are converted to it
      largest = 65504.0f;
      poke_feature(dir.file("s.h5"), 0, 0, 0, largest);
      poke_feature(dir.file("s.h5"), example2_token4, 2, 7, -std::numeric_limits<float>::infinity());
    } else {  // stored as its 16 bits
      largest = 3.3895313892515355e38f;  // 0x7F7F
      poke_feature(dir.file("s.h5"), 0, 0, 0, uint16_t{0x7F7F}, H5T_NATIVE_UINT16);
      poke_feature(dir.file("s.h5"), example2_token4, 2, 7, uint16_t{0x7FC1}, H5T_NATIVE_UINT16);  // a NaN
    }
    auto problems = verify_shard_file(dir.file("s.h5"));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], dir.file("s.h5") + ": dataset 'features': example 2 (id 114) has NaN or infinite values");
    EXPECT_EQ(ShardReader(dir.file("s.h5")).read(0).features[0][0][0].item<float>(), largest);
  }
}

// An i8 shard's values are checked through their scales: a NaN or negative scale, or one
// whose products overflow float32 (readers would refuse it), is found.
TEST(VerifyShardSet, FindsBadScalesOfInt8Shards) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::I8);
  test::write_shard(dir.file("s.h5"), info, test::ragged_examples(info));
  EXPECT_TRUE(verify_shard_file(dir.file("s.h5")).empty());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -1.0f, std::numeric_limits<float>::max() / 100}) {
    poke(dir.file("s.h5"), "feature_scales", {1 + 3000 + 4, 1}, bad);  // example 2, token 4, tier 1
    auto problems = verify_shard_file(dir.file("s.h5"));
    ASSERT_EQ(problems.size(), 1u) << bad;
    EXPECT_EQ(problems[0], dir.file("s.h5") +
                               ": dataset 'feature_scales': example 2 (id 114) has NaN, infinite, negative or overflowing scales");
    // Readers refuse it too, stored or converted: a negative scale would flip the row's signs.
    for (bool stored : {false, true}) {
      try {
        ShardReader(dir.file("s.h5")).read_range(0, 6, stored);
        ADD_FAILURE() << "read a scale of " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("example 114: feature_scales holds a NaN, negative or overflowing scale"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  // -128, which the writer never stores, is found.
  test::write_shard(dir.file("s.h5"), info, test::ragged_examples(info));
  poke(dir.file("s.h5"), "features", {1, 0, 3}, int8_t{-128}, H5T_NATIVE_SCHAR);  // example 1
  auto problems = verify_shard_file(dir.file("s.h5"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], dir.file("s.h5") + ": dataset 'features': example 1 (id 107) has values outside -127..127");
}

// A shard that says two things about its dtype is refused: a features attribute that
// contradicts the root's, or i8's scales beside f16 values.
TEST(ShardFile, RefusesContradictoryDtypes) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  for (int variant = 0; variant < 2; ++variant) {
    test::write_shard(dir.file("s.h5"), info, test::ragged_examples(info));
    register_zstd_filter();
    hid_t file = H5Fopen(dir.file("s.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    if (variant == 0) {
      hid_t features = H5Dopen2(file, "features", H5P_DEFAULT);
      H5Adelete(features, "dtype");
      h5::write_attribute(features, "dtype", std::string("bf16"), "test");
      H5Dclose(features);
    } else {
      hsize_t dims[2] = {1, 3};
      hid_t space = H5Screate_simple(2, dims, nullptr);
      H5Dclose(H5Dcreate2(file, "feature_scales", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
      H5Sclose(space);
    }
    H5Fclose(file);
    try {
      ShardFile shard(dir.file("s.h5"));
      ADD_FAILURE() << "opened variant " << variant;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(variant == 0 ? "attribute 'dtype' contradicts the root attribute dtype 'f16'"
                                                        : "dataset 'feature_scales' belongs to dtype i8, not f16"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(ShardWriter, RefusesNonFiniteFeatures) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  auto examples = test::ragged_examples(info);
  examples[3].features[2][0][1] = std::numeric_limits<float>::infinity();
  try {
    test::write_shard(dir.file("inf.h5"), info, examples);
    FAIL() << "the writer accepted an infinite feature";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inf.h5: example 121: features hold NaN or infinite values"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.file("inf.h5")));
  EXPECT_TRUE(fs::is_empty(dir.path())) << "a temporary was left behind";
}

TEST(ShardSet, RefusesShardsThatDisagreeWithTheManifest) {
  ScratchDir dir;
  Manifest m = write_set(dir.path());
  m.shards[0].examples = 5;
  m.info.backbone.weights_sha256 = std::string(64, 'f');
  write_manifest(dir.path(), m);
  try {
    ShardSet set(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard-00000.h5: has 6 examples but manifest.json lists 5"),
              std::string::npos)
        << e.what();
  }
  m.shards[0].examples = 6;
  write_manifest(dir.path(), m);
  EXPECT_THROW(ShardSet{dir.path()}, Error);
  EXPECT_TRUE(any_contains(verify_shard_set(dir.path()), "'backbone.weights_sha256' differs from manifest.json"));
}

std::string open_error(const std::string& dir) {
  try {
    ShardSet set(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ShardSet, RefusesAShardOutOfPlaceOrTruncatedWithoutHashing) {
  ScratchDir dir;
  Manifest m = write_set(dir.path());
  std::swap(m.shards[0], m.shards[1]);  // same sizes and counts, wrong order
  write_manifest(dir.path(), m);
  const std::string misplaced = dir.file("shard-00001.h5") +
                                ": attribute 'shard_index' is 1 but manifest.json lists it at position 0";
  EXPECT_EQ(open_error(dir.path()), misplaced);
  EXPECT_TRUE(any_contains(verify_shard_set(dir.path()), misplaced));

  std::swap(m.shards[0], m.shards[1]);
  write_manifest(dir.path(), m);
  fs::resize_file(dir.file("shard-00001.h5"), static_cast<uintmax_t>(m.shards[1].bytes - 100));
  const std::string truncated = dir.file("shard-00001.h5") + ": size " + std::to_string(m.shards[1].bytes - 100) +
                                " bytes differs from manifest.json (" + std::to_string(m.shards[1].bytes) + ")";
  EXPECT_EQ(open_error(dir.path()).rfind(truncated, 0), 0u) << open_error(dir.path());
  EXPECT_TRUE(any_contains(verify_shard_set(dir.path()), truncated));
}

}  // namespace
}  // namespace sherl
