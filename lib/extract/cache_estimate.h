#pragma once
// What an extraction will write, known before it writes anything: the cache's bytes for the
// chosen tiers and dtype from the input's token counts, against the free space where it will
// be written. sherl-extract --estimate prints it; extraction refuses to start when it does
// not fit, instead of filling the disk hours later.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lib/input/source.h"
#include "lib/shard/format.h"

namespace sherl {

struct CacheEstimate {
  int64_t examples = 0;    // the examples this run writes (its partition's)
  int64_t tokens = 0;      // their token rows
  int64_t row_bytes = 0;   // bytes of one token row as stored (tiers x d values, i8's scales)
  int64_t bytes = 0;       // features uncompressed, per-example datasets, a shard's overhead: an upper bound
  int64_t free_bytes = -1; // available to this user where the set goes; -1 when unknown
  std::string free_at;     // the existing directory whose file system was asked
  bool fits() const { return free_bytes < 0 || bytes <= free_bytes; }
};

// The estimate for the selected examples at positions [begin, end) of each range (a
// partition's blocks), each of `tokens_per_example` tokens (an image model's fixed count,
// or the most a text may have); with count_tokens the input is read (tokenised) and its
// real counts are used instead.
CacheEstimate estimate_cache(const InputSpec& spec, const InputPlan& plan, const ShardSetInfo& info,
                             const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t tokens_per_example,
                             bool count_tokens, const std::string& out_dir);

// "12.3 MiB": bytes in binary units, for messages.
std::string human_bytes(int64_t bytes);

}  // namespace sherl
