#pragma once
// Mini-batches of cached tiers read from a shard set by a background thread, so that
// HDF5 reads and zstd decompression overlap the training step. Only `depth` batches are
// ever in memory: the data set is never loaded whole.
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/shard/shard.h"

namespace sherl {

struct Batch {
  torch::Tensor tiers;   // [B, T, N, d] float32, zero-padded to the longest example
  torch::Tensor mask;    // [B, T] int64, 1 = token
  torch::Tensor labels;  // int64 [B] (class) or float32 [B, L]
  torch::Tensor ids;     // int64 [B], example ids
};

// Pads and stacks examples read from shards, keeping only the tiers at `tier_positions`
// (empty: all).
Batch collate_examples(const std::vector<ShardExample>& examples, const std::vector<int64_t>& tier_positions = {});

class BatchLoader {
 public:
  // Reads the examples of `order` (global indices into `set`) in that order, batch_size at
  // a time (the last batch may be smaller). pin: page-locked batches for fast CUDA copies.
  BatchLoader(const ShardSet& set, std::vector<int64_t> order, int64_t batch_size, size_t depth = 4,
              bool pin = false, std::vector<int64_t> tier_positions = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  // The next batch; false at the end. Rethrows a read error (naming the shard file).
  bool next(Batch& out);
  int64_t num_batches() const;

 private:
  void produce();

  const ShardSet& set_;
  std::vector<int64_t> order_;
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
