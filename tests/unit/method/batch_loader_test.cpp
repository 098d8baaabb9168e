// Training read plans and the loader over them: a set of contiguous shards is read as a
// uniform permutation of single examples with no shuffle buffer; a chunked set in shuffled
// blocks through the buffer. Either way every example arrives exactly once per epoch.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "scratch_dir.h"
#include "sherl/workflows/batch_loader.h"

namespace sherl {
namespace {

constexpr int64_t kShards = 3, kPerShard = 40, kTiers = 2, kHidden = 4;

// Three shards of 40 examples (2 to 4 tokens each), ids 0..119 in set order.
void write_set(const std::string& dir, bool contiguous) {
  ShardSetInfo info;
  info.backbone = {"vit", kHidden, 2, std::string(64, 'a'), std::string(64, 'b')};
  info.tiers = {0, 1};
  info.num_labels = 2;
  Manifest manifest{info, {}};
  for (int64_t s = 0; s < kShards; ++s) {
    const std::string file = "shard-0000" + std::to_string(s) + ".h5";
    const std::string path = dir + "/" + file;
    auto tokens = [](int64_t id) { return 2 + id % 3; };
    int64_t total = 0;
    for (int64_t i = 0; i < kPerShard; ++i) total += tokens(s * kPerShard + i);
    ShardWriter writer(path, info, s, {}, contiguous ? total : 0);
    for (int64_t i = 0; i < kPerShard; ++i) {
      const int64_t id = s * kPerShard + i;
      writer.append({id, torch::full({tokens(id), kTiers, kHidden}, static_cast<float>(id)), torch::tensor(id % 2)});
    }
    manifest.shards.push_back({file, kPerShard, writer.commit(), static_cast<int64_t>(std::filesystem::file_size(path))});
  }
  write_manifest(dir, manifest);
}

std::vector<int64_t> ids_in_plan_order(const ShardSet& set, const ReadPlan& plan) {
  std::vector<int64_t> ids;
  for (const ReadBlock& b : plan.blocks)
    for (int64_t i = b.begin; i < b.end; ++i) ids.push_back(set.shards()[b.shard]->ids()[i]);
  return ids;
}

TEST(ShuffledPlan, ContiguousSetIsAUniformPermutationOfSingleExamples) {
  test::ScratchDir dir;
  write_set(dir.path(), /*contiguous=*/true);
  ShardSet set(dir.path());
  ASSERT_TRUE(set.random_access());
  ReadPlan plan = shuffled_plan(set, 7, 16, 1 << 20);
  EXPECT_EQ(plan.shuffle_buffer, 0);
  ASSERT_EQ(static_cast<int64_t>(plan.blocks.size()), kShards * kPerShard);
  for (const ReadBlock& b : plan.blocks) EXPECT_EQ(b.end - b.begin, 1);
  std::vector<int64_t> ids = ids_in_plan_order(set, plan);
  std::vector<int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < kShards * kPerShard; ++i) ASSERT_EQ(sorted[i], i);
  // Shuffled across shards from the start, and a function of the seed.
  std::set<int64_t> first_shards;
  for (size_t i = 0; i < 16; ++i) first_shards.insert(ids[i] / kPerShard);
  EXPECT_GT(first_shards.size(), 1u);
  EXPECT_EQ(ids, ids_in_plan_order(set, shuffled_plan(set, 7, 16, 1 << 20)));
  EXPECT_NE(ids, ids_in_plan_order(set, shuffled_plan(set, 8, 16, 1 << 20)));
}

TEST(ShuffledPlan, ChunkedSetReadsBlocksThroughTheBuffer) {
  test::ScratchDir dir;
  write_set(dir.path(), /*contiguous=*/false);
  ShardSet set(dir.path());
  ASSERT_FALSE(set.random_access());
  ReadPlan plan = shuffled_plan(set, 7, 16, 1 << 20, /*block_examples=*/8);
  EXPECT_EQ(static_cast<int64_t>(plan.blocks.size()), kShards * kPerShard / 8);
  EXPECT_GE(plan.shuffle_buffer, 16);
}

TEST(BatchLoader, EveryExampleOncePerEpochInEitherLayout) {
  for (bool contiguous : {true, false}) {
    test::ScratchDir dir;
    write_set(dir.path(), contiguous);
    ShardSet set(dir.path());
    BatchLoader loader(set, shuffled_plan(set, 3, 16, 1 << 20), 16);
    std::vector<int64_t> seen;
    Batch batch;
    while (loader.next(batch)) {
      for (int64_t i = 0; i < batch.ids.size(0); ++i) {
        const int64_t id = batch.ids[i].item<int64_t>();
        seen.push_back(id);
        // The example's own values, and its label, in its row of the batch.
        EXPECT_EQ(batch.tiers[i][0][0][0].item<float>(), static_cast<float>(id));
        EXPECT_EQ(batch.labels[i].item<int64_t>(), id % 2);
      }
    }
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(static_cast<int64_t>(seen.size()), kShards * kPerShard) << "contiguous " << contiguous;
    for (int64_t i = 0; i < kShards * kPerShard; ++i) EXPECT_EQ(seen[i], i);
  }
}

}  // namespace
}  // namespace sherl
