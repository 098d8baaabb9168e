// IDX images + labels: round trips (plain and gzip), selection semantics, bad files.
#include <gtest/gtest.h>

#include "lib/input/idx_reader.h"
#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

const std::vector<uint8_t> kLabels = {3, 1, 3, 0, 1, 3, 2, 1, 0, 3};
constexpr int kSide = 3;
const char* kNoResize =
    R"({"do_resize": false, "do_rescale": true, "rescale_factor": 0.00392156862745098,
        "do_normalize": true, "image_mean": [0.5], "image_std": [0.5]})";

uint8_t pixel(int image, int k) { return uint8_t((image * 29 + k * 17) % 256); }

struct IdxFixture : ::testing::Test {
  ScratchDir dir;
  InputSpec spec;

  void write(bool gzip, std::vector<uint8_t> labels = kLabels) {
    std::vector<uint8_t> images;
    for (int i = 0; i < int(kLabels.size()); ++i)
      for (int k = 0; k < kSide * kSide; ++k) images.push_back(pixel(i, k));
    std::string ext = gzip ? ".gz" : "";
    write_idx(dir / ("images" + ext), {uint32_t(kLabels.size()), kSide, kSide}, images, gzip);
    write_idx(dir / ("labels" + ext), {uint32_t(labels.size())}, labels, gzip);
    spec.path = dir / ("images" + ext);
    spec.labels_path = dir / ("labels" + ext);
    spec.model_dir = write_image_model(dir, 1, kSide, kNoResize);
  }

  std::vector<int64_t> ids_of(const std::vector<RawExample>& examples) {
    std::vector<int64_t> ids;
    for (const auto& e : examples) ids.push_back(e.id);
    return ids;
  }
  std::vector<int64_t> classes_of(const std::vector<RawExample>& examples) {
    std::vector<int64_t> c;
    for (const auto& e : examples) c.push_back(e.label.item<int64_t>());
    return c;
  }
};

TEST_F(IdxFixture, PlainAndGzipRoundTrip) {
  for (bool gzip : {false, true}) {
    write(gzip);
    IdxReader reader(spec.path, "");
    EXPECT_EQ(reader.compressed(), gzip);
    EXPECT_EQ(reader.dims(), (std::vector<int64_t>{10, kSide, kSide}));
    InputPlan plan = plan_input(spec);
    EXPECT_EQ(plan.format, "idx");
    EXPECT_EQ(plan.selected, 10);
    EXPECT_EQ(plan.label_names, (std::vector<std::string>{"0", "1", "2", "3"}));
    auto examples = drain(spec, plan);
    ASSERT_EQ(examples.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      const auto& e = examples[size_t(i)];
      EXPECT_EQ(e.id, i);
      EXPECT_EQ(e.label.scalar_type(), torch::kInt64);
      EXPECT_EQ(e.label.dim(), 0);
      EXPECT_EQ(e.label.item<int64_t>(), kLabels[size_t(i)]);
      ASSERT_EQ(e.pixel_values.sizes(), (std::vector<int64_t>{1, kSide, kSide}));
      for (int k = 0; k < kSide * kSide; ++k) {
        float expected = float((pixel(i, k) * 0.00392156862745098 - 0.5) / 0.5);
        ASSERT_EQ(e.pixel_values.view(-1)[k].item<float>(), expected) << "image " << i << " pixel " << k;
      }
    }
  }
}

TEST_F(IdxFixture, SelectLabelsRemapsInTheOrderGiven) {
  write(true);
  spec.select_labels = {"3", "1"};
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"3", "1"}));
  EXPECT_EQ(plan.num_labels, 2);
  EXPECT_EQ(plan.selected, 7);
  auto examples = drain(spec, plan);
  EXPECT_EQ(ids_of(examples), (std::vector<int64_t>{0, 1, 2, 4, 5, 7, 9}));
  EXPECT_EQ(classes_of(examples), (std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0}));
}

TEST_F(IdxFixture, PerLabelKeepsTheFirstRowsOfEachLabel) {
  write(false);
  spec.select_labels = {"3", "1"};
  spec.per_label = 2;
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.selected, 4);
  EXPECT_EQ(ids_of(drain(spec, plan)), (std::vector<int64_t>{0, 1, 2, 4}));

  spec.select_labels.clear();
  spec.per_label = 1;
  plan = plan_input(spec);
  auto examples = drain(spec, plan);
  EXPECT_EQ(ids_of(examples), (std::vector<int64_t>{0, 1, 3, 6}));
  EXPECT_EQ(classes_of(examples), (std::vector<int64_t>{3, 1, 0, 2}));
}

TEST_F(IdxFixture, LimitKeepsTheFirstSelectedRows) {
  write(true);
  spec.select_labels = {"1", "0"};
  spec.limit = 3;
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.selected, 3);
  // The label map still covers every selected label, even those past the limit.
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"1", "0"}));
  auto examples = drain(spec, plan);
  EXPECT_EQ(ids_of(examples), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(classes_of(examples), (std::vector<int64_t>{0, 1, 0}));

  spec.per_label = 1;  // per-label first, then the limit
  spec.limit = 1;
  plan = plan_input(spec);
  EXPECT_EQ(ids_of(drain(spec, plan)), (std::vector<int64_t>{1}));
}

TEST_F(IdxFixture, SelectedLabelThatNeverOccursIsAnError) {
  write(false);
  spec.select_labels = {"3", "7"};
  expect_error([&] { plan_input(spec); }, {"'7'", "never occurs", spec.path});
}

TEST_F(IdxFixture, LabelCountMismatchNamesBothFiles) {
  write(true, {3, 1, 3, 0, 1, 3, 2, 1, 0});
  expect_error([&] { plan_input(spec); }, {spec.path, spec.labels_path, "10 images", "9 labels"});
}

TEST_F(IdxFixture, TruncatedImagesAreErrors) {
  std::vector<uint8_t> images(10 * kSide * kSide, 7);
  write(false);
  write_idx(spec.path, {10, kSide, kSide}, images, false, 16 + 5 * kSide * kSide);
  expect_error([&] { plan_input(spec); }, {spec.path, "truncated"});

  // gzip: the size is only known by decompressing, so the stream finds it, naming the item.
  write(true);
  write_idx(spec.path, {10, kSide, kSide}, images, true, 16 + 5 * kSide * kSide + 4);
  InputPlan plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {spec.path, "truncated", "item 5 of 10"});
}

TEST_F(IdxFixture, MalformedHeadersAreErrors) {
  write(false);
  write_text(spec.path, std::string("\x01\x02\x08\x03", 4) + std::string(64, '\0'));
  expect_error([&] { plan_input(spec); }, {spec.path, "not an IDX file"});
  spec.format = "idx";
  write_text(spec.path, std::string("\x00\x00\x0d\x03", 4) + std::string(64, '\0'));
  expect_error([&] { plan_input(spec); }, {spec.path, "element type 0x0d"});
  write_text(spec.path, "");
  expect_error([&] { plan_input(spec); }, {spec.path, "truncated"});
}

TEST_F(IdxFixture, LabelFileProblemsAreErrors) {
  write(false);
  InputSpec no_labels = spec;
  no_labels.labels_path.clear();
  no_labels.format = "idx";
  expect_error([&] { plan_input(no_labels); }, {spec.path, "--labels"});
  // Bytes after the announced labels betray wrong dimensions.
  std::vector<uint8_t> labels = kLabels;
  labels.push_back(1);
  write_text(spec.labels_path, "");
  write_idx(spec.labels_path, {10}, labels, false);
  expect_error([&] { plan_input(spec); }, {spec.labels_path, "unexpected data"});
}

TEST_F(IdxFixture, ImageSizeMustMatchTheModel) {
  write(false);
  spec.model_dir = write_image_model(dir, 1, 28, kNoResize);
  InputPlan plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {spec.path, "image 0", "3x3", "28x28"});
}

TEST_F(IdxFixture, TextInputForAnImageModelIsAnError) {
  write(false);
  InputSpec text = spec;
  text.labels_path.clear();
  text.path = dir / "rows.tsv";
  write_text(text.path, "sentence\tlabel\nhello\t1\n");
  expect_error([&] { plan_input(text); }, {text.path, "tsv", "image model"});
}

}  // namespace
}  // namespace sherl::test
