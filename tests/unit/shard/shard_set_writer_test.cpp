// ShardSetWriter: the shard-set directory's one writer, for whole sets (consolidation) and
// partitions (extraction).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "lib/shard/set_directory.h"
#include "lib/shard/shard_set_writer.h"
#include "shard_test_util.h"

namespace sherl {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

// Writes `examples` as shard `index` through `set`.
void write_shard(ShardSetWriter& set, int64_t index, const std::vector<ShardExample>& examples) {
  set.open_shard(index);
  for (const auto& e : examples) set.append(e);
  EXPECT_EQ(set.open_shard_size(), static_cast<int64_t>(examples.size()));
  set.commit_shard();
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ShardSetWriter, WholeSetListsItsShardsAndRemovesThoseOfALongerEarlierRun) {
  ScratchDir dir;
  const auto info = test::test_info(FeatureDType::F16);
  {
    ShardSetWriter earlier(dir.path(), info, {});
    for (int64_t s = 0; s < 3; ++s) write_shard(earlier, s, test::ragged_examples(info, 100 * s));
    earlier.finish();
  }
  std::ofstream(dir.file("notes.txt")) << "a user's file";
  ShardSetWriter set(dir.path(), info, {});
  write_shard(set, 0, test::ragged_examples(info, 1000));
  // The earlier manifest lists shard 0, which is being replaced: it is gone at once.
  EXPECT_FALSE(fs::exists(manifest_path(dir.path())));
  write_shard(set, 1, test::ragged_examples(info, 2000));
  set.finish();
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{"manifest.json", "notes.txt", "shard-00000.h5", "shard-00001.h5"}));
  ShardSet read(dir.path());
  EXPECT_EQ(read.size(), 12);
  EXPECT_EQ(set.examples(), 12);
  EXPECT_EQ(read.read(6).id, 2000);
  EXPECT_TRUE(verify_shard_set(dir.path()).empty());
}

TEST(ShardSetWriter, AnUncommittedShardLeavesNothing) {
  ScratchDir dir;
  const auto info = test::test_info(FeatureDType::F32);
  {
    ShardSetWriter set(dir.path(), info, {});
    set.open_shard(0);
    set.append(test::ragged_examples(info)[0]);
    EXPECT_THROW(set.open_shard(1), Error);  // one open shard at a time
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(ShardSetWriter, KeepsOnlyMatchingShardsOfAnEarlierRun) {
  ScratchDir dir;
  const auto info = test::test_info(FeatureDType::F16);
  {
    ShardSetWriter earlier(dir.path(), info, {});
    for (int64_t s = 0; s < 3; ++s) write_shard(earlier, s, test::ragged_examples(info, 100 * s));
  }
  ShardSetInfo now = info;
  now.source_path = "elsewhere/input.idx";  // the same input, spelled otherwise
  ShardSetWriter set(dir.path(), now, {});
  std::string why_not;
  EXPECT_TRUE(set.keep_existing(0, 6, why_not));
  EXPECT_EQ(why_not, "");
  EXPECT_FALSE(set.keep_existing(1, 5, why_not));  // another block size
  EXPECT_NE(why_not.find("does not hold this shard's 5 examples"), std::string::npos) << why_not;
  EXPECT_FALSE(fs::exists(dir.file("shard-00001.h5")));
  EXPECT_FALSE(set.keep_existing(7, 6, why_not));  // no such file
  EXPECT_EQ(why_not, "");

  ShardSetInfo other = now;
  other.tiers = {0, 2};
  ShardSetWriter other_set(dir.path(), other, {});
  EXPECT_FALSE(other_set.keep_existing(2, 6, why_not));
  EXPECT_NE(why_not.find("tiers"), std::string::npos) << why_not;
  EXPECT_FALSE(fs::exists(dir.file("shard-00002.h5")));

  ASSERT_EQ(set.shards().size(), 1u);
  EXPECT_EQ(set.shards()[0].file, "shard-00000.h5");
  EXPECT_EQ(set.shards()[0].bytes, static_cast<int64_t>(fs::file_size(dir.file("shard-00000.h5"))));
}

TEST(ShardSetWriter, PartitionsMergeIntoOneSet) {
  ScratchDir dir;
  const auto info = test::test_info(FeatureDType::BF16);
  for (int64_t partition : {1, 0}) {
    ShardSetWriter set(dir.path(), info, {});
    write_shard(set, 2 * partition + 1, test::ragged_examples(info, 1000 * partition + 500));
    write_shard(set, 2 * partition, test::ragged_examples(info, 1000 * partition));
    set.finish_partition(partition, 2);
    EXPECT_TRUE(fs::exists(dir.file(part_manifest_name(partition, 2))));
    EXPECT_EQ(merge_part_manifests(dir.path(), 2, 24), partition == 0) << "merged before every part was there";
  }
  ShardSet read(dir.path());
  ASSERT_EQ(read.shards().size(), 4u);
  for (int64_t s = 0; s < 4; ++s) EXPECT_EQ(read.shards()[s]->shard_index(), s);
  EXPECT_EQ(read.read(6).id, 500);
  EXPECT_TRUE(verify_shard_set(dir.path()).empty());
}

}  // namespace
}  // namespace sherl
