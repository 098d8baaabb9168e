#pragma once
// sherl-consolidate's work: the anti-redundancy operator applied to the cache before
// training. It measures how redundant the frozen tiers are with each other (the MTSA's own
// measure: mean over tokens of relu(cos(F_i, F_j))), selects tiers, splits off a
// stratified validation set, and re-packs the examples into training-ready shard sets.
#include <string>
#include <vector>

#include "lib/core/json.h"
#include "lib/shard/shard.h"

namespace sherl {

struct RedundancyReport {
  std::vector<int64_t> tiers;                  // stored tier indices
  std::vector<std::vector<double>> pairwise;   // R[i][j] = mean_examples mean_tokens relu(cos(F_i, F_j))
  std::vector<double> total;                   // r_i = sum_j R[i][j] (j over all tiers, i included)
  int64_t examples = 0;                        // examples measured
};

// Measures over `sample` examples spread evenly over the set (0 or more than the set: all).
RedundancyReport measure_redundancy(const ShardSet& set, int64_t sample);
json to_json(const RedundancyReport& r);

// "all", a comma list of tier indices, or "auto": walking from the last tier down, drop a
// tier whose redundancy with the nearest kept tier above it exceeds `threshold`; the last
// tier is always kept.
std::vector<int64_t> select_tiers(const std::string& spec, const RedundancyReport& r, double threshold);

struct ConsolidateOptions {
  std::string input_dir, out_dir;
  std::string tiers = "all";
  double threshold = 0.9;
  double val_fraction = 0.1;
  int64_t seed = 0;
  int64_t sample = 1000;
  int64_t examples_per_shard = 1000;
  FeatureDType dtype = FeatureDType::F16;
  // Contiguous, unfiltered features (the default: training reads any example with one
  // plain read) or chunked and compressed with `compression` (smaller on disk).
  bool contiguous = true;
  CompressionOptions compression{1, true};
  bool quiet = false;
  std::string command_line;
};

// Writes <out>/redundancy.json, <out>/redundancy.svg, <out>/train/ and (when
// val_fraction > 0) <out>/val/, and <out>/consolidate.json summarising what was done.
json consolidate(const ConsolidateOptions& options);

// Stratified (by class; plain for other label kinds), seeded split: the positions of the
// validation examples, sorted.
std::vector<int64_t> stratified_validation(const std::vector<int64_t>& labels, double fraction, int64_t seed);

}  // namespace sherl
