#pragma once
// Mini-batches of cached tiers read from a shard set by a background thread, so that HDF5
// reads and zstd decompression overlap the training step. Memory is bounded by the
// shuffle buffer and `depth` batches: the data set is never loaded whole.
//
// Shards are read in blocks of consecutive examples, so that every compressed chunk is
// decompressed once per pass (a chunk holds several examples: reading examples one by one
// in random order decompresses each chunk several times). Training randomises with the
// classic shard-shuffle + shuffle-buffer scheme: blocks from all shards in a random order
// stream through a buffer from which examples leave at random, so batches mix examples of
// many blocks and shards. Everything is a function of the seed: a resumed run sees the
// same batches.
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "lib/shard/shard.h"

namespace sherl {

struct Batch {
  torch::Tensor tiers;   // [B, T, N, d] zero-padded to the longest example: float32, or
                         // float16 from an f16 cache (as stored; see collate_examples)
  torch::Tensor mask;    // [B, T] int64, 1 = token
  torch::Tensor labels;  // int64 [B] (class) or float32 [B, L]
  torch::Tensor ids;     // int64 [B], example ids
};

// Pads and stacks examples read from shards, keeping only the tiers at `tier_positions`
// (empty: all). The tiers stay float16 when every example stores them so (the MTSA reads
// them as they are); other dtypes become float32.
Batch collate_examples(const std::vector<ShardExample>& examples, const std::vector<int64_t>& tier_positions = {});

// Throws "<shard file>: example <id>: features hold NaN or infinite values" when any
// example of `batch` (read from `set`) has a non-finite feature. Batches are made from
// features in their stored dtype, which the shard reader does not check.
void check_finite(const ShardSet& set, const Batch& batch);
// The id of the first example of `batch` with a non-finite tier, if any.
std::optional<int64_t> first_non_finite_example(const Batch& batch);

// A stream of training or evaluation batches: read from a cache (BatchLoader) or computed
// by the frozen early layers online (sherl/workflows/online_input.h).
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  // The next batch; false at the end.
  virtual bool next(Batch& out) = 0;
};

// Shuffles `items` in place with Fisher-Yates draws of mt19937_64(seed): the one definition
// of a seeded data order, so that an online input and a random-access shard set of the same
// examples are read in the same order.
template <typename T>
void seeded_shuffle(std::vector<T>& items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int64_t i = static_cast<int64_t>(items.size()) - 1; i > 0; --i)
    std::swap(items[i], items[rng() % static_cast<uint64_t>(i + 1)]);
}

struct ReadBlock {
  int64_t shard = 0, begin = 0, end = 0;  // examples [begin, end) of shards()[shard]
};

struct ReadPlan {
  std::vector<ReadBlock> blocks;   // read in this order
  int64_t shuffle_buffer = 0;      // examples held for shuffling (0: keep the read order)
  uint64_t seed = 0;               // of the buffer's draws
};

// Every example once, in shard-set order.
ReadPlan sequential_plan(const ShardSet& set, int64_t block_examples = 256);
// Blocks in a seeded random order through a shuffle buffer of at most `buffer_bytes` of
// features as stored (and at least one batch). For a random-access set (contiguous
// shards): every example in a seeded uniform permutation, no buffer.
ReadPlan shuffled_plan(const ShardSet& set, uint64_t seed, int64_t batch_size, int64_t buffer_bytes,
                       int64_t block_examples = 64);

// Batches to queue ahead of the consumer: up to 4 (enough to hide the reads behind a step),
// as long as they hold at most 64 MiB of tiers as batched (float16 from an f16 cache, else
// float32; batches padded to the set's longest example), and at least 1. At BERT-base size
// a batch of 32 x 128 tokens and 12 tiers is 75 MB in float16: then one batch waits while
// one is made and one is used.
size_t queue_depth(const ShardSet& set, int64_t batch_size, int64_t tiers_used = 0);

class BatchLoader : public BatchStream {
 public:
  // pin: page-locked batches for fast CUDA copies.
  BatchLoader(const ShardSet& set, ReadPlan plan, int64_t batch_size, size_t depth = 4, bool pin = false,
              std::vector<int64_t> tier_positions = {});
  ~BatchLoader() override;
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  // The next batch; false at the end. Rethrows a read error (naming the shard file).
  bool next(Batch& out) override;

 private:
  void produce();
  void emit(std::vector<ShardExample>& pending);

  const ShardSet& set_;
  ReadPlan plan_;
  int64_t batch_size_;
  size_t depth_;
  bool pin_;
  std::vector<int64_t> tier_positions_;
  std::deque<Batch> queue_;
  bool finished_ = false, stop_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
};

}  // namespace sherl
