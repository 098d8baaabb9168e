// The real Fashion-MNIST test set (Debian's dataset-fashion-mnist) and the bundled ViT's
// golden reference: counts, selection, ids and exact pixel values.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>

#include "lib/core/json.h"
#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

const std::string kData = "/usr/share/datasets/fashion-mnist";
const std::string kModel = std::string(SHERL_SOURCE_DIR) + "/examples/models/vit-tiny-fmnist5";

InputSpec fmnist_spec() {
  InputSpec spec;
  spec.path = kData + "/t10k-images-idx3-ubyte.gz";
  spec.labels_path = kData + "/t10k-labels-idx1-ubyte.gz";
  spec.model_dir = kModel;
  return spec;
}

// The labels read independently of the code under test (zlib directly).
std::vector<uint8_t> raw_labels() {
  gzFile gz = gzopen((kData + "/t10k-labels-idx1-ubyte.gz").c_str(), "rb");
  EXPECT_NE(gz, nullptr);
  std::vector<uint8_t> bytes(8 + 10000);
  EXPECT_EQ(gzread(gz, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(gz);
  return std::vector<uint8_t>(bytes.begin() + 8, bytes.end());
}

TEST(FashionMnist, WholeTestSet) {
  InputPlan plan = plan_input(fmnist_spec());
  EXPECT_EQ(plan.format, "idx");
  EXPECT_EQ(plan.selected, 10000);
  EXPECT_EQ(plan.num_labels, 10);
  EXPECT_EQ(plan.label_names.front(), "0");
  EXPECT_EQ(plan.label_names.back(), "9");
}

TEST(FashionMnist, SelectingClassesFiveToNine) {
  const std::vector<uint8_t> labels = raw_labels();
  InputSpec spec = fmnist_spec();
  spec.select_labels = {"5", "6", "7", "8", "9"};
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.selected, 5000);
  EXPECT_EQ(plan.label_names, spec.select_labels);

  auto source = open_source(spec, plan);
  RawExample e;
  int64_t n = 0, previous = -1;
  while (source->next(e)) {
    ASSERT_GT(e.id, previous);
    previous = e.id;
    ASSERT_GE(labels[size_t(e.id)], 5);
    ASSERT_EQ(e.label.item<int64_t>(), labels[size_t(e.id)] - 5) << "id " << e.id;
    ASSERT_EQ(e.pixel_values.sizes(), (std::vector<int64_t>{1, 28, 28}));
    ++n;
  }
  EXPECT_EQ(n, 5000);

  // per_label 3: the first three images of each selected class, in file order.
  spec.per_label = 3;
  plan = plan_input(spec);
  EXPECT_EQ(plan.selected, 15);
  std::vector<int64_t> expected;
  std::vector<int> seen(10, 0);
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 5 && seen[labels[i]]++ < 3) expected.push_back(int64_t(i));
  std::vector<int64_t> ids;
  for (const auto& x : drain(spec, plan)) {
    ids.push_back(x.id);
    EXPECT_EQ(x.label.item<int64_t>(), labels[size_t(x.id)] - 5);
  }
  EXPECT_EQ(ids, expected);
}

// golden.json: the first 8 test images with labels 0-4, with the pixel sum of each and the
// exact preprocessing float32((u8 / 255 - 0.5) / 0.5).
TEST(FashionMnist, MatchesTheGoldenReference) {
  json golden = read_json_file(kModel + "/golden.json");
  InputSpec spec = fmnist_spec();
  spec.select_labels = {"0", "1", "2", "3", "4"};
  spec.limit = 8;
  InputPlan plan = plan_input(spec);
  auto examples = drain(spec, plan);
  ASSERT_EQ(examples.size(), golden["samples"].size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const json& g = golden["samples"][i];
    EXPECT_EQ(examples[i].id, g["t10k_index"].get<int64_t>());
    EXPECT_EQ(examples[i].label.item<int64_t>(), g["label"].get<int64_t>());
    auto px = examples[i].pixel_values.contiguous();
    const float* p = px.data_ptr<float>();
    int64_t sum = 0;
    for (int64_t k = 0; k < px.numel(); ++k) {
      long u8 = std::lround((double(p[k]) + 1.0) * 127.5);
      ASSERT_EQ(p[k], float((double(u8) / 255.0 - 0.5) / 0.5));
      sum += u8;
    }
    EXPECT_EQ(sum, g["pixel_u8_sum"].get<int64_t>()) << "sample " << i;
  }
}

}  // namespace
}  // namespace sherl::test
