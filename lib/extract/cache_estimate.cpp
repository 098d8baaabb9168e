#include "lib/extract/cache_estimate.h"

#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace sherl {
namespace {

// Per example beside its features: offsets, example_id and a class label (int64 each).
constexpr int64_t kExampleBytes = 3 * 8;
// Per shard, stored uncompressed at worst: a partly filled last chunk of the features
// (256 KiB) and of the three per-example datasets (128 KiB each), and the metadata.
constexpr int64_t kShardBytes = (256 + 3 * 128 + 64) << 10;

int64_t token_rows(const InputSpec& spec, const InputPlan& plan, const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  auto source = open_source(spec, plan);
  RawExample example;
  int64_t position = 0, tokens = 0;
  for (const auto& [begin, end] : ranges)
    for (; position < end && source->next(example); ++position)
      if (position >= begin) tokens += static_cast<int64_t>(example.input_ids.size());
  return tokens;
}

// The free space of the file system that `dir`, or its nearest existing ancestor, is on.
void free_space(const std::string& dir, CacheEstimate& e) {
  std::error_code ec;
  fs::path at = fs::absolute(dir, ec);
  while (!at.empty() && !fs::exists(at, ec) && at.has_parent_path() && at.parent_path() != at) at = at.parent_path();
  const fs::space_info space = fs::space(at, ec);
  if (ec) return;
  e.free_bytes = static_cast<int64_t>(space.available);
  e.free_at = at.string();
}

}  // namespace

CacheEstimate estimate_cache(const InputSpec& spec, const InputPlan& plan, const ShardSetInfo& info,
                             const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t tokens_per_example,
                             bool count_tokens, const std::string& out_dir) {
  CacheEstimate e;
  for (const auto& [begin, end] : ranges) e.examples += end - begin;
  e.tokens = count_tokens ? token_rows(spec, plan, ranges) : e.examples * tokens_per_example;
  e.row_bytes = row_bytes(info.dtype, static_cast<int64_t>(info.tiers.size()), info.backbone.hidden_size);
  const int64_t label_bytes = info.label_kind == LabelKind::Class ? 0 : 4 * info.num_labels - 8;
  e.bytes = e.tokens * e.row_bytes + e.examples * (kExampleBytes + label_bytes) +
            static_cast<int64_t>(ranges.size()) * kShardBytes;
  free_space(out_dir, e);
  return e;
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof *units) v /= 1024, ++u;
  char s[32];
  std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return s;
}

}  // namespace sherl
