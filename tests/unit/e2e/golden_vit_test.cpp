// End to end through the input library: the IDX source (gzip images + labels, labels 0..4,
// first 8) feeds the bundled ViT, which must reproduce golden.json. The model-only twin of
// this test (tests/unit/model/vit_golden_test.cpp) decodes the images itself.
#include <gtest/gtest.h>

#include <cmath>

#include "lib/input/source.h"
#include "lib/model/backbone.h"
#include "tests/unit/model/vit_golden.h"

TEST(GoldenVit, InputSourceAndBackboneReproduceGoldenJson) {
  auto golden = sherl::test::read_vit_golden();
  const auto& samples = golden.at("samples");
  sherl::InputSpec spec;
  spec.path = sherl::test::fmnist_dir() + "/t10k-images-idx3-ubyte.gz";
  spec.labels_path = sherl::test::fmnist_dir() + "/t10k-labels-idx1-ubyte.gz";
  spec.model_dir = sherl::test::vit_model_dir();
  spec.select_labels = {"0", "1", "2", "3", "4"};
  spec.limit = static_cast<int64_t>(samples.size());
  auto plan = sherl::plan_input(spec);
  ASSERT_EQ(plan.selected, spec.limit);
  auto source = sherl::open_source(spec, plan);

  std::vector<sherl::RawExample> batch;
  sherl::RawExample ex;
  while (source->next(ex)) batch.push_back(ex);
  ASSERT_EQ(batch.size(), samples.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& s = samples[i];
    EXPECT_EQ(batch[i].id, s.at("t10k_index").get<int64_t>());
    // Labels 0..4 selected in that order map to classes 0..4 unchanged.
    EXPECT_EQ(batch[i].label.item<int64_t>(), s.at("label").get<int64_t>());
    // Undo the preprocessing: the raw bytes must be the golden image's.
    auto u8 = torch::round((batch[i].pixel_values.to(torch::kFloat64) * 0.5 + 0.5) * 255.0);
    EXPECT_EQ(u8.sum().item<double>(), s.at("pixel_u8_sum").get<double>());
  }
  auto inputs = sherl::collate(batch, /*pad_token_id=*/0);

  auto vit = sherl::load_backbone(sherl::test::vit_model_dir());
  auto d = sherl::test::compare_vit_golden(*vit, inputs.pixel_values, golden);
  std::printf("e2e vit golden: max |diff| norms %.3g (rel %.3g), cls first8 %.3g, logits %.3g\n", d.norms_abs,
              d.norms_rel, d.first8, d.logits);
  EXPECT_LT(d.first8, 1e-4);
  EXPECT_LT(d.logits, 1e-4);
  EXPECT_LT(d.norms_abs, 1e-4);
  EXPECT_EQ(d.predictions_matching, static_cast<int64_t>(samples.size()));
}
