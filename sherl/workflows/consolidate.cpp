#include "sherl/workflows/consolidate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/directory_lock.h"
#include "lib/core/error.h"
#include "lib/core/output_directory.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/shard/set_directory.h"
#include "lib/shard/shard_set_writer.h"
#include "sherl/report/svg_plot.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

// [T, N, d] -> [N, N]: mean over tokens of relu(cos) between every pair of tiers.
torch::Tensor example_redundancy(const torch::Tensor& features) {
  torch::Tensor f = features.to(torch::kFloat64);
  torch::Tensor unit = f / (f.norm(2, -1, true) + 1e-8);   // [T, N, d]
  return torch::relu(torch::matmul(unit, unit.transpose(1, 2))).mean(0);
}

std::string tier_name(int64_t t) { return t == 0 ? "emb" : "L" + std::to_string(t - 1); }

// Removes what a consolidation wrote into a shard-set directory, and the directory when
// nothing else is left.
void remove_split(const std::string& dir) {
  remove_shard_set_files(dir);
  std::error_code ec;
  fs::remove(dir, ec);  // fails, harmlessly, when the directory holds other files
}

// Streams the examples of `set` in order into one split's shard set, a new shard every
// examples_per_shard examples. Contiguous shards are created at their final size: `tokens`
// lists the token count of every example the split will receive, in order.
class SplitWriter {
 public:
  SplitWriter(const std::string& dir, const ShardSetInfo& info, const ConsolidateOptions& o,
              std::vector<int64_t> tokens)
      : set_(dir, info, o.compression), o_(o), tokens_(std::move(tokens)) {}
  void add(const ShardExample& e) {
    if (!set_.has_open_shard())
      set_.open_shard(static_cast<int64_t>(set_.shards().size()), o_.contiguous ? next_shard_tokens() : 0);
    set_.append(e);
    if (set_.open_shard_size() == o_.examples_per_shard) set_.commit_shard();
  }
  int64_t finish() {
    if (set_.has_open_shard()) set_.commit_shard();
    set_.finish();
    return set_.examples();
  }

 private:
  // Token rows of the shard about to open: the next examples_per_shard examples, or the rest.
  int64_t next_shard_tokens() const {
    size_t first = static_cast<size_t>(set_.examples());
    size_t last = std::min(tokens_.size(), first + static_cast<size_t>(o_.examples_per_shard));
    if (first >= last) throw Error("sherl-consolidate: more examples than planned for a split");
    return std::accumulate(tokens_.begin() + first, tokens_.begin() + last, int64_t{0});
  }

  ShardSetWriter set_;
  const ConsolidateOptions& o_;
  std::vector<int64_t> tokens_;
};

// The strata of the validation split: class labels (read at open, no features touched),
// or one stratum for other label kinds.
std::vector<int64_t> class_labels(const ShardSet& set) {
  if (set.info().label_kind != LabelKind::Class) return std::vector<int64_t>(set.size(), 0);
  std::vector<int64_t> labels;
  labels.reserve(set.size());
  for (const auto& shard : set.shards()) {
    auto a = shard->labels().accessor<int64_t, 1>();
    for (int64_t i = 0; i < a.size(0); ++i) labels.push_back(a[i]);
  }
  return labels;
}

// The token counts of the examples of each split, in set order: (train, val).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_token_counts(const ShardSet& set,
                                                                         const std::vector<bool>& in_val) {
  std::pair<std::vector<int64_t>, std::vector<int64_t>> tokens;
  int64_t position = 0;
  for (const auto& shard : set.shards())
    for (int64_t i = 0; i < shard->size(); ++i, ++position)
      (in_val[position] ? tokens.second : tokens.first).push_back(shard->num_tokens(i));
  return tokens;
}

// The split directories <out>/train and <out>/val are replaced: refused when one of them is,
// holds or lies inside the input (also through a symbolic link), or holds files that no
// consolidation writes there (an extraction's extract.json, a user's files).
void check_split_directory(const std::string& split, const ConsolidateOptions& o) {
  if (is_same_or_inside(split, o.input_dir) || is_same_or_inside(o.input_dir, split))
    throw Error("--out " + o.out_dir + " and --input " + o.input_dir + ": " + split +
                " would replace the input set; the output must neither be, contain, nor lie inside it");
  std::error_code ec;
  if (!fs::is_directory(split, ec)) return;
  for (const auto& entry : fs::directory_iterator(split)) {
    const std::string name = entry.path().filename().string();
    if (name != "manifest.json" && !is_shard_file_name(name) && !is_temp_name(name) && name != DirectoryLock::kFileName)
      throw error_at(split, "holds " + name + ", which sherl-consolidate does not write: not a split of an earlier "
                            "consolidation; use another --out");
  }
}

// Options that would make a degenerate output; checked before anything is read or written.
void validate(const ConsolidateOptions& o) {
  if (fs::exists(o.input_dir) && (is_same_or_inside(o.out_dir, o.input_dir) || is_same_or_inside(o.input_dir, o.out_dir)))
    throw Error("--out " + o.out_dir + " and --input " + o.input_dir +
                ": the output must neither be, contain, nor lie inside the input set");
  for (const char* split : {"train", "val"}) check_split_directory((fs::path(o.out_dir) / split).string(), o);
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    throw Error("--val-fraction " + std::to_string(o.val_fraction) + ": must be in [0, 1)");
  if (!(o.threshold >= 0 && o.threshold <= 1))
    throw Error("--threshold " + std::to_string(o.threshold) + ": must be in [0, 1] (a mean relu(cos))");
  if (o.examples_per_shard < 1) throw Error("--examples-per-shard must be at least 1");
  if (o.sample < 0) throw Error("--sample must not be negative (0: all examples)");
  if (o.tiers.empty()) throw Error("--tiers is empty: give all, auto, or a comma list of stored tiers");
  if (std::string problem = compression_problem(o.compression); !problem.empty()) throw Error("--zstd-level: " + problem);
}

// A class with too few examples ends up in one split only (the training split keeps every
// class): say so, since its validation metric then says nothing about that class. A
// warning, not progress: printed even with --quiet.
void warn_missing_classes(const ShardSetInfo& info, const std::vector<int64_t>& labels, const std::vector<bool>& in_val) {
  std::map<int64_t, int64_t> val_count;
  for (size_t i = 0; i < labels.size(); ++i) val_count[labels[i]] += in_val[i] ? 1 : 0;
  for (const auto& [label, count] : val_count)
    if (count == 0) {
      std::string name = label >= 0 && label < static_cast<int64_t>(info.label_names.size())
                             ? info.label_names[label] : std::to_string(label);
      std::cerr << "sherl-consolidate: warning: class '" << name << "' has no validation example (too few examples)\n";
    }
}

}  // namespace

RedundancyReport measure_redundancy(const ShardSet& set, int64_t sample) {
  RedundancyReport r;
  r.tiers = set.info().tiers;
  int64_t n = set.size();
  int64_t m = (sample <= 0 || sample > n) ? n : sample;
  int64_t k = static_cast<int64_t>(r.tiers.size());
  torch::Tensor sum = torch::zeros({k, k}, torch::kFloat64);
  for (int64_t i = 0; i < m; ++i) sum += example_redundancy(set.read(i * n / m).features);
  sum /= static_cast<double>(m);
  r.examples = m;
  r.pairwise.assign(k, std::vector<double>(k));
  r.total.assign(k, 0);
  auto a = sum.accessor<double, 2>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      r.pairwise[i][j] = a[i][j];
      r.total[i] += a[i][j];
    }
  return r;
}

json to_json(const RedundancyReport& r) {
  std::vector<std::string> names;
  for (auto t : r.tiers) names.push_back(tier_name(t));
  return {{"measure", "mean over tokens of relu(cos(F_i, F_j)), averaged over examples"},
          {"tiers", r.tiers}, {"tier_names", names}, {"examples", r.examples},
          {"pairwise", r.pairwise}, {"total", r.total}};
}

std::vector<int64_t> select_tiers(const std::string& spec, const RedundancyReport& r, double threshold) {
  const auto& stored = r.tiers;
  if (spec == "all") return stored;
  std::vector<int64_t> keep;
  if (spec == "auto") {
    int64_t kept = static_cast<int64_t>(stored.size()) - 1;  // position of the nearest kept tier above
    keep.push_back(stored[kept]);
    for (int64_t i = kept - 1; i >= 0; --i)
      if (r.pairwise[i][kept] <= threshold) {
        keep.push_back(stored[i]);
        kept = i;
      }
    std::reverse(keep.begin(), keep.end());
    return keep;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t t = -1;
    try {
      t = std::stoll(item);
    } catch (const std::exception&) {
    }
    if (std::find(stored.begin(), stored.end(), t) == stored.end())
      throw Error("--tiers " + spec + ": tier '" + item + "' is not stored in these shards");
    if (!keep.empty() && t <= keep.back()) throw Error("--tiers " + spec + ": list tiers in increasing order");
    keep.push_back(t);
  }
  if (keep.empty() || keep.back() != stored.back()) keep.push_back(stored.back());  // last tier always kept
  return keep;
}

std::vector<int64_t> stratified_validation(const std::vector<int64_t>& labels, double fraction, int64_t seed) {
  std::map<int64_t, std::vector<int64_t>> by_label;
  for (size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(static_cast<int64_t>(i));
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::vector<int64_t> val;
  for (auto& [label, members] : by_label) {
    for (int64_t i = static_cast<int64_t>(members.size()) - 1; i > 0; --i)
      std::swap(members[i], members[rng() % static_cast<uint64_t>(i + 1)]);
    // Every class keeps at least one training example.
    auto take = static_cast<size_t>(std::llround(fraction * members.size()));
    val.insert(val.end(), members.begin(), members.begin() + std::min(take, members.size() - 1));
  }
  std::sort(val.begin(), val.end());
  return val;
}

json consolidate(const ConsolidateOptions& o) {
  validate(o);
  ShardSet set(o.input_dir);
  if (set.size() == 0) throw error_at(o.input_dir, "holds no examples to consolidate");
  create_output_directory(o.out_dir);
  DirectoryLock lock(o.out_dir, "sherl-consolidate writing this directory");
  // consolidate.json says the output is complete: an earlier one goes first. So do the
  // temporaries of an earlier run that was killed.
  const std::string summary_path = (fs::path(o.out_dir) / "consolidate.json").string();
  fs::remove(summary_path);
  for (const char* sub : {"", "train", "val"}) remove_orphaned_temporaries((fs::path(o.out_dir) / sub).string());
  RedundancyReport redundancy = measure_redundancy(set, o.sample);
  write_file_atomic((fs::path(o.out_dir) / "redundancy.json").string(), to_json(redundancy).dump(2) + "\n");
  std::vector<std::string> names;
  for (auto t : redundancy.tiers) names.push_back(tier_name(t));
  write_file_atomic((fs::path(o.out_dir) / "redundancy.svg").string(),
                    svg_heatmap("tier redundancy: mean relu(cos)", names, redundancy.pairwise));

  std::vector<int64_t> tiers = select_tiers(o.tiers, redundancy, o.threshold);
  std::vector<int64_t> positions;
  for (auto t : tiers) positions.push_back(std::find(redundancy.tiers.begin(), redundancy.tiers.end(), t) - redundancy.tiers.begin());
  torch::Tensor position_index = torch::tensor(positions, torch::kInt64);
  const std::vector<int64_t> labels = class_labels(set);
  std::vector<int64_t> val = stratified_validation(labels, o.val_fraction, o.seed);
  std::vector<bool> in_val(static_cast<size_t>(set.size()), false);
  for (int64_t position : val) in_val[position] = true;
  if (set.info().label_kind == LabelKind::Class && o.val_fraction > 0) warn_missing_classes(set.info(), labels, in_val);
  auto [train_tokens, val_tokens] = split_token_counts(set, in_val);

  ShardSetInfo info = set.info();
  info.tiers = tiers;
  info.dtype = o.dtype;
  info.source_path = o.input_dir;
  info.tool_version = SHERL_VERSION;
  info.command_line = o.command_line;
  SplitWriter train_writer((fs::path(o.out_dir) / "train").string(), info, o, std::move(train_tokens));
  std::unique_ptr<SplitWriter> val_writer;
  const std::string val_dir = (fs::path(o.out_dir) / "val").string();
  if (!val.empty()) val_writer = std::make_unique<SplitWriter>(val_dir, info, o, std::move(val_tokens));
  else remove_split(val_dir);  // a validation set of an earlier run would be taken for this one's
  Progress progress("sherl-consolidate", set.size(), o.quiet);
  // Into the same dtype, the stored values are copied as they are (an i8 set is not
  // quantised again); the writer checks that they are finite.
  const bool as_stored = set.info().dtype == o.dtype;
  int64_t position = 0;
  for (const auto& shard : set.shards())
    for (int64_t begin = 0; begin < shard->size(); begin += 256) {
      for (auto& e : shard->read_range(begin, std::min(shard->size(), begin + 256), as_stored)) {
        e.features = e.features.index_select(1, position_index);
        if (e.scales.defined()) e.scales = e.scales.index_select(1, position_index);
        (in_val[position++] ? *val_writer : train_writer).add(e);
      }
      progress.advance(std::min<int64_t>(256, shard->size() - begin));
    }
  progress.finish();
  json summary = {{"input", o.input_dir}, {"tiers_stored", redundancy.tiers}, {"tiers_selected", tiers},
                  {"selection", o.tiers}, {"threshold", o.threshold}, {"val_fraction", o.val_fraction},
                  {"seed", o.seed}, {"train_examples", train_writer.finish()},
                  {"val_examples", val_writer ? val_writer->finish() : 0}, {"redundancy_total", redundancy.total}};
  write_file_atomic(summary_path, summary.dump(2) + "\n");
  return summary;
}

}  // namespace sherl
