// collate_examples: padding, masks and tier selection, for float16 features (kept float16:
// the MTSA reads them as stored) and float32 ones (LibTorch's copy), against the same batch
// built with LibTorch operations; int8 ones dequantised and a mix of dtypes in float32.
#include <gtest/gtest.h>

#include "lib/shard/stored_values.h"
#include "sherl/workflows/batch_loader.h"

namespace sherl {
namespace {

std::vector<ShardExample> examples(torch::Dtype dtype) {
  std::vector<ShardExample> out;
  for (int64_t i = 0; i < 3; ++i) {
    ShardExample e;
    e.id = 10 + i;
    e.features = torch::randn({4 + i, 5, 9}).to(dtype);  // 4, 5 and 6 tokens: padding
    e.label = torch::tensor(i, torch::kInt64);
    out.push_back(e);
  }
  return out;
}

torch::Tensor expected_tiers(const std::vector<ShardExample>& es, const std::vector<int64_t>& positions) {
  auto sel = torch::tensor(positions, torch::kInt64);
  torch::Tensor out = torch::zeros({3, 6, static_cast<int64_t>(positions.size()), 9});
  for (int64_t i = 0; i < 3; ++i)
    out[i].narrow(0, 0, es[i].features.size(0)).copy_(es[i].features.index_select(1, sel).to(torch::kFloat32));
  return out;
}

TEST(Collate, PadsMasksAndSelectsTiersInEveryDtype) {
  torch::manual_seed(0);
  for (auto dtype : {torch::kFloat16, torch::kFloat32}) {
    auto es = examples(dtype);
    for (const std::vector<int64_t>& positions : {std::vector<int64_t>{}, std::vector<int64_t>{0, 3, 4}}) {
      Batch b = collate_examples(es, positions);
      std::vector<int64_t> all{0, 1, 2, 3, 4};
      EXPECT_EQ(b.tiers.scalar_type(), dtype);
      EXPECT_TRUE(torch::equal(b.tiers.to(torch::kFloat32), expected_tiers(es, positions.empty() ? all : positions)));
      EXPECT_TRUE(torch::equal(b.mask.sum(1), torch::tensor({4, 5, 6}, torch::kInt64)));
      EXPECT_TRUE(torch::equal(b.ids, torch::tensor({10, 11, 12}, torch::kInt64)));
      EXPECT_TRUE(torch::equal(b.labels, torch::tensor({0, 1, 2}, torch::kInt64)));
    }
  }
}

// Int8 features with their scales (an i8 shard read as stored) are dequantised into the batch
// exactly as the shard reader dequantises them.
TEST(Collate, DequantisesInt8FeaturesAsTheReaderDoes) {
  torch::manual_seed(1);
  auto floats = examples(torch::kFloat32);
  std::vector<ShardExample> int8 = floats;
  for (size_t i = 0; i < floats.size(); ++i) {
    Int8Rows q = quantise_rows(floats[i].features);
    int8[i].features = q.values;
    int8[i].scales = q.scales;
    floats[i].features = dequantise_rows(q.values, q.scales);
  }
  for (const std::vector<int64_t>& positions : {std::vector<int64_t>{}, std::vector<int64_t>{1, 4}})
    EXPECT_TRUE(torch::equal(collate_examples(int8, positions).tiers, collate_examples(floats, positions).tiers));
}

// A batch whose examples are not all float16 (shards of a set converted otherwise) is float32.
TEST(Collate, MixedDtypesBecomeFloat32) {
  torch::manual_seed(2);
  auto es = examples(torch::kFloat16);
  es[1].features = es[1].features.to(torch::kFloat32);
  Batch b = collate_examples(es);
  EXPECT_EQ(b.tiers.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(b.tiers, expected_tiers(es, {0, 1, 2, 3, 4})));
}

TEST(Collate, StacksRegressionAndMultiLabelTargets) {
  auto es = examples(torch::kFloat16);
  for (int64_t i = 0; i < 3; ++i) es[i].label = torch::tensor({0.5f * i, -1.0f * i});
  Batch b = collate_examples(es);
  EXPECT_EQ(b.labels.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({0.0f, 0.0f, 0.5f, -1.0f, 1.0f, -2.0f}).view({3, 2})));
}

}  // namespace
}  // namespace sherl
