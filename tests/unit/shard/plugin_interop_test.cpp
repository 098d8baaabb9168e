// Our shards read by other HDF5 software through the h5zstd plugin: h5py (following only
// formats/shard.md) and h5dump. Values must match bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/json.h"
#include "lib/shard/shard.h"
#include "lib/shard/stored_values.h"
#include "shard_test_util.h"

namespace sherl {
namespace {

using test::ScratchDir;

std::string plugin_env() { return std::string("HDF5_PLUGIN_PATH=") + SHERL_BINARY_DIR + "/hdf5-plugins "; }

std::string run_capture(const std::string& command, const std::string& out_file) {
  int rc = std::system((command + " > " + out_file + " 2>&1").c_str());
  std::string output = read_file(out_file);
  EXPECT_EQ(rc, 0) << command << "\n" << output;
  return output;
}

torch::Tensor concat_features(const std::vector<ShardExample>& examples) {
  std::vector<torch::Tensor> parts;
  for (const auto& ex : examples) parts.push_back(ex.features);
  return torch::cat(parts);
}

torch::Tensor tensor_from_file(const std::string& path, torch::ScalarType dtype, at::IntArrayRef sizes) {
  std::string bytes = read_file(path);
  torch::Tensor t = torch::empty(sizes, dtype);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.nbytes())) << path;
  if (bytes.size() == static_cast<size_t>(t.nbytes())) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

class Interop : public ::testing::TestWithParam<FeatureDType> {};

TEST_P(Interop, H5pyReadsValuesBitExact) {
  ScratchDir dir;
  auto info = test::test_info(GetParam());
  auto examples = test::ragged_examples(info);
  std::string shard = dir.file("shard.h5");
  test::write_shard(shard, info, examples, 0, {3, true});

  std::string script = std::string(SHERL_SOURCE_DIR) + "/tests/python/h5py_read_shard.py";
  std::string out = run_capture(plugin_env() + "/usr/bin/python3 " + script + " " + shard + " " + dir.file("py"),
                                dir.file("py.log"));
  json summary = json::parse(out.substr(out.find('{')));
  EXPECT_EQ(summary["dtype"], to_string(GetParam()));
  EXPECT_EQ(summary["fletcher32"], true);
  EXPECT_EQ(summary["tiers"], json(info.tiers));
  EXPECT_EQ(summary["label_names"], json(info.label_names));
  EXPECT_EQ(summary["example_id"], json({100, 107, 114, 121, 128, 135}));
  EXPECT_EQ(summary["label"], json({0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(summary["offsets"].back(), 3000 + 17 + 5 + 197 + 1 + 1);
  EXPECT_NE(summary["filters"].dump().find("32015"), std::string::npos) << summary["filters"];

  torch::Tensor want = round_to_stored(concat_features(examples), GetParam());  // i8: formats/shard.md's formula
  torch::Tensor got = tensor_from_file(dir.file("py.features.f32"), torch::kFloat32, want.sizes());
  EXPECT_TRUE(torch::equal(want, got));
}

// The numbers of h5dump's text DATA block, in order ("(0,0,0): 1.5, -2, ..." lines).
std::vector<double> h5dump_values(const std::string& text) {
  std::vector<double> values;
  size_t begin = text.find("DATA {"), end = text.find('}', begin);
  std::istringstream lines(text.substr(begin + 6, end - begin - 6));
  for (std::string line; std::getline(lines, line);) {
    size_t colon = line.find("):");
    std::istringstream items(colon == std::string::npos ? line : line.substr(colon + 2));
    for (std::string item; std::getline(items, item, ',');)
      if (item.find_first_not_of(" \t") != std::string::npos) values.push_back(std::stod(item));
  }
  return values;
}

// h5dump's binary output (-b) has no native type for IEEE half, so compare its text output:
// float values for f32/f16, the uint16 bit patterns for bf16.
TEST_P(Interop, H5dumpReadsStoredValues) {
  ScratchDir dir;
  auto info = test::test_info(GetParam(), 2, 4);
  auto examples = test::ragged_examples(info);
  examples.erase(examples.begin() + 1);  // the 3000-token example would make a large dump
  std::string shard = dir.file("shard.h5");
  test::write_shard(shard, info, examples, 0, {9, false});
  std::string dump = run_capture(plugin_env() + "h5dump -m %.9g -d /features " + shard, dir.file("h5dump.log"));
  torch::Tensor want = concat_features(examples);
  if (GetParam() == FeatureDType::BF16)
    want = want.to(torch::kBFloat16).view(torch::kInt16).to(torch::kInt32).bitwise_and(0xffff).to(torch::kFloat64);
  if (GetParam() == FeatureDType::I8) want = quantise_rows(want).values;  // the stored integers
  want = want.to(torch::kFloat64).flatten();
  std::vector<double> got = h5dump_values(dump);
  ASSERT_EQ(static_cast<int64_t>(got.size()), want.numel()) << dump.substr(0, 400);
  EXPECT_TRUE(torch::equal(want, torch::tensor(got, torch::kFloat64)));
  std::string header = run_capture(plugin_env() + "h5dump -H -p " + shard, dir.file("h5dump-H.log"));
  EXPECT_NE(header.find("32015"), std::string::npos);
  EXPECT_NE(header.find("FLETCHER32"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Interop,
                         ::testing::Values(FeatureDType::F32, FeatureDType::F16, FeatureDType::BF16, FeatureDType::I8),
                         [](const auto& p) { return to_string(p.param); });

}  // namespace
}  // namespace sherl
