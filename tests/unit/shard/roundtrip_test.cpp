// Write-then-read of ragged features: bit-exact in every dtype (i8: the values its formula
// gives), compression setting and layout (chunked, contiguous).
#include <gtest/gtest.h>

#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"
#include "lib/shard/stored_values.h"
#include "shard_test_util.h"

namespace sherl {
namespace {

using test::ScratchDir;

void expect_same_examples(const std::vector<ShardExample>& want, const std::vector<ShardExample>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].id, got[i].id) << "example " << i;
    EXPECT_EQ(got[i].features.scalar_type(), torch::kFloat32);
    ASSERT_EQ(want[i].features.sizes(), got[i].features.sizes()) << "example " << i;
    EXPECT_TRUE(torch::equal(want[i].features, got[i].features)) << "example " << i;
    EXPECT_TRUE(torch::equal(want[i].label, got[i].label)) << "example " << i;
  }
}

struct Case {
  FeatureDType dtype;
  CompressionOptions compression;
  bool contiguous = false;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, RaggedFeaturesBitExact) {
  ScratchDir dir;
  auto info = test::test_info(GetParam().dtype);
  auto examples = test::ragged_examples(info);
  std::string path = dir.file("shard-00000.h5");
  std::string sha = test::write_shard(path, info, examples, 5, GetParam().compression, GetParam().contiguous);
  EXPECT_EQ(sha, sha256_file(path));
  // What a shard of this dtype returns: the values themselves but for i8's quantisation.
  for (auto& e : examples) e.features = round_to_stored(e.features, info.dtype);
  if (info.dtype == FeatureDType::I8) EXPECT_FALSE(torch::equal(examples[1].features, test::ragged_examples(info)[1].features));

  ShardReader reader(path);
  EXPECT_EQ(reader.contiguous(), GetParam().contiguous);
  EXPECT_EQ(reader.size(), static_cast<int64_t>(examples.size()));
  EXPECT_EQ(reader.shard_index(), 5);
  EXPECT_EQ(reader.num_tokens(0), 1);
  EXPECT_EQ(reader.num_tokens(1), 3000);
  std::vector<ShardExample> one_by_one;
  for (int64_t i = 0; i < reader.size(); ++i) one_by_one.push_back(reader.read(i));
  expect_same_examples(examples, one_by_one);
  expect_same_examples(examples, reader.read_range(0, reader.size()));
  auto middle = reader.read_range(2, 4);
  expect_same_examples({examples[2], examples[3]}, middle);
  EXPECT_TRUE(verify_shard_file(path).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, RoundTrip,
    ::testing::Values(Case{FeatureDType::F32, {3, true}}, Case{FeatureDType::F16, {3, true}},
                      Case{FeatureDType::BF16, {3, true}}, Case{FeatureDType::F16, {0, true}},
                      Case{FeatureDType::BF16, {9, false}}, Case{FeatureDType::F32, {1, false}},
                      Case{FeatureDType::F16, {1, true}, true}, Case{FeatureDType::BF16, {1, true}, true},
                      Case{FeatureDType::F32, {0, true}, true}, Case{FeatureDType::I8, {3, true}},
                      Case{FeatureDType::I8, {0, true}}, Case{FeatureDType::I8, {1, true}, true}),
    [](const auto& p) {
      return to_string(p.param.dtype) + "_level" + std::to_string(p.param.compression.zstd_level) +
             (p.param.compression.shuffle ? "_shuffle" : "_noshuffle") + (p.param.contiguous ? "_contiguous" : "");
    });

TEST(ShardFormat, AttributesRoundTrip) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::BF16, 2, 4);
  std::string path = dir.file("s.h5");
  test::write_shard(path, info, test::ragged_examples(info), 3);
  ShardReader reader(path);
  const auto& got = reader.info();
  EXPECT_EQ(got.backbone, info.backbone);
  EXPECT_EQ(got.tiers, info.tiers);
  EXPECT_EQ(got.late_layers, info.late_layers);
  EXPECT_EQ(got.dtype, FeatureDType::BF16);
  EXPECT_EQ(got.label_kind, LabelKind::Class);
  EXPECT_EQ(got.num_labels, 3);
  EXPECT_EQ(got.label_names, info.label_names);
  EXPECT_EQ(got.source_path, info.source_path);
  EXPECT_EQ(got.source_sha256, info.source_sha256);
  EXPECT_EQ(got.tool_version, info.tool_version);
  EXPECT_EQ(got.command_line, info.command_line);
  EXPECT_EQ(reader.ids(), (std::vector<int64_t>{100, 107, 114, 121, 128, 135}));
}

TEST(ShardFormat, RegressionLabelsRoundTrip) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F32);
  info.label_kind = LabelKind::Regression;
  info.num_labels = 2;
  info.label_names.clear();
  std::vector<ShardExample> examples(2);
  for (int i = 0; i < 2; ++i) {
    examples[i] = {i, test::representable_features(3 + i, 3, 8, i), torch::tensor({0.5f * i, -1.25f})};
  }
  std::string path = dir.file("r.h5");
  test::write_shard(path, info, examples);
  ShardReader reader(path);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(reader.read(i).label, examples[i].label));
}

TEST(ShardFormat, EmptyShardIsValid) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  std::string path = dir.file("e.h5");
  test::write_shard(path, info, {});
  ShardReader reader(path);
  EXPECT_EQ(reader.size(), 0);
  EXPECT_TRUE(reader.read_range(0, 0).empty());
}

TEST(ShardWriter, RejectsBadExamplesWithoutDamagingTheShard) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  std::string path = dir.file("w.h5");
  ShardWriter writer(path, info, 0, {});
  ShardExample wrong_d{1, torch::zeros({2, 3, 7}), torch::tensor(int64_t{0})};
  EXPECT_THROW(writer.append(wrong_d), Error);
  ShardExample bad_label{1, torch::zeros({2, 3, 8}), torch::tensor(int64_t{3})};
  EXPECT_THROW(writer.append(bad_label), Error);
  ShardExample no_tokens{1, torch::zeros({0, 3, 8}), torch::tensor(int64_t{0})};
  EXPECT_THROW(writer.append(no_tokens), Error);
  ShardExample good{1, torch::ones({2, 3, 8}), torch::tensor(int64_t{2})};
  writer.append(good);
  EXPECT_EQ(writer.size(), 1);
  writer.commit();
  ShardReader reader(path);
  ASSERT_EQ(reader.size(), 1);
  EXPECT_TRUE(torch::equal(reader.read(0).features, good.features));
}

TEST(ShardWriter, ContiguousShardHoldsExactlyItsDeclaredTokens) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  std::string path = dir.file("c.h5");
  ShardWriter writer(path, info, 0, {}, /*contiguous_tokens=*/5);
  writer.append({1, torch::ones({2, 3, 8}), torch::tensor(int64_t{0})});
  try {
    writer.append({2, torch::ones({4, 3, 8}), torch::tensor(int64_t{1})});
    FAIL() << "6 token rows fit a shard created for 5";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("created for 5 token rows"), std::string::npos) << e.what();
  }
  try {
    writer.commit();
    FAIL() << "a contiguous shard with 3 of its 5 token rows unwritten was committed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hold 2 token rows, not the 5"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  ShardExample last{3, torch::full({3, 3, 8}, 0.5), torch::tensor(int64_t{2})};
  writer.append(last);
  writer.commit();
  ShardReader reader(path);
  ASSERT_EQ(reader.size(), 2);  // the refused example left nothing behind
  EXPECT_TRUE(reader.contiguous());
  EXPECT_TRUE(torch::equal(reader.read(1).features, last.features));
  EXPECT_TRUE(verify_shard_file(path).empty());
}

TEST(ShardWriter, UncommittedWriterLeavesNothing) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F32);
  {
    ShardWriter writer(dir.file("x.h5"), info, 0, {});
    writer.append({1, torch::ones({2, 3, 8}), torch::tensor(int64_t{0})});
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ShardReader, ErrorsNameTheFile) {
  ScratchDir dir;
  std::string text = dir.file("notes.h5");
  FILE* f = std::fopen(text.c_str(), "w");
  std::fputs("not hdf5 at all\n", f);
  std::fclose(f);
  try {
    ShardReader r(text);
    FAIL() << "opened a text file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(text + ": not an HDF5 file", 0), 0u) << e.what();
  }
  try {
    ShardReader r(dir.file("absent.h5"));
    FAIL() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
  auto info = test::test_info(FeatureDType::F32);
  test::write_shard(dir.file("ok.h5"), info, test::ragged_examples(info));
  ShardReader ok(dir.file("ok.h5"));
  EXPECT_THROW(ok.read(6), Error);
  EXPECT_THROW(ok.read_range(3, 2), Error);
}

// Rewrites one root attribute of a committed shard.
template <typename T>
void set_attribute(const std::string& path, const std::string& name, const T& value) {
  h5::init();
  h5::Handle file = h5::file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path, "cannot open");
  h5::write_attribute(file.get(), name, value, path);
}

TEST(ShardReader, RefusesImplausibleHiddenSizeAndTiers) {
  // A hostile hidden size overflowed the chunk size arithmetic (found by fuzzing, UBSan).
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::F16);
  std::string path = dir.file("s.h5");
  auto expect_refused = [&](const std::string& message) {
    try {
      ShardReader r(path);
      FAIL() << "opened, expected: " << message;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), path + ": " + message);
    }
  };
  for (int64_t d : {int64_t(0), int64_t(-8), int64_t(1) << 62}) {
    test::write_shard(path, info, test::ragged_examples(info));
    set_attribute(path, "backbone_hidden_size", d);
    expect_refused("attribute 'backbone_hidden_size' is " + std::to_string(d) + ", not in 1..1048576");
  }
  test::write_shard(path, info, test::ragged_examples(info));
  set_attribute(path, "tiers", std::vector<int64_t>(1025, 0));
  expect_refused("attribute 'tiers' lists 1025 tiers (at most 1024)");
}

TEST(ShardTypes, NamesRoundTrip) {
  for (auto t : {FeatureDType::F32, FeatureDType::F16, FeatureDType::BF16, FeatureDType::I8})
    EXPECT_EQ(parse_feature_dtype(to_string(t)), t);
  for (auto k : {LabelKind::Class, LabelKind::Regression, LabelKind::MultiLabel})
    EXPECT_EQ(parse_label_kind(to_string(k)), k);
  EXPECT_THROW(parse_feature_dtype("f8"), Error);
  EXPECT_EQ(torch_dtype(FeatureDType::BF16), torch::kBFloat16);
}

// An i8 shard read as stored gives the int8 values and their scales; written as they are into
// another i8 shard (as consolidation does), they are not quantised again: the same bytes.
TEST(RoundTrip, Int8ReadAsStoredCopiesLosslessly) {
  ScratchDir dir;
  auto info = test::test_info(FeatureDType::I8, 3, 8);
  auto examples = test::ragged_examples(info);
  for (auto& e : examples) e.features = e.features * 1.37 + 0.01;  // not on the int8 grid
  test::write_shard(dir.file("a.h5"), info, examples);
  ShardReader a(dir.file("a.h5"));
  auto stored = a.read_range(0, a.size(), /*stored_dtype=*/true);
  ASSERT_EQ(stored[1].features.scalar_type(), torch::kInt8);
  ASSERT_EQ(stored[1].scales.sizes(), (std::vector<int64_t>{3000, 3}));
  EXPECT_TRUE(torch::equal(dequantise_rows(stored[1].features, stored[1].scales), a.read(1).features));
  test::write_shard(dir.file("b.h5"), info, stored);
  ShardReader b(dir.file("b.h5"));
  for (int64_t i = 0; i < a.size(); ++i) {
    auto again = b.read_range(i, i + 1, true);
    EXPECT_TRUE(torch::equal(again[0].features, stored[static_cast<size_t>(i)].features)) << i;
    EXPECT_TRUE(torch::equal(again[0].scales, stored[static_cast<size_t>(i)].scales)) << i;
  }
  // Int8 features are only taken for an i8 shard, and with scales of their shape.
  auto f16 = test::test_info(FeatureDType::F16, 3, 8);
  EXPECT_THROW(test::write_shard(dir.file("c.h5"), f16, stored), Error);
  stored[0].scales = torch::Tensor();
  EXPECT_THROW(test::write_shard(dir.file("d.h5"), info, stored), Error);
}

}  // namespace
}  // namespace sherl
