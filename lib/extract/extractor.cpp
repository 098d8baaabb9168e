#include "lib/extract/extractor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/device.h"
#include "lib/core/directory_lock.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/core/json.h"
#include "lib/core/output_directory.h"
#include "lib/core/runtime.h"
#include "lib/core/serial_worker.h"
#include "lib/core/version.h"
#include "lib/input/spool.h"
#include "lib/input/text_encoding.h"  // resolved_max_length
#include "lib/model/backbone.h"
#include "lib/shard/set_directory.h"
#include "lib/shard/shard_set_writer.h"
#include "lib/shard/stored_values.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

constexpr const char* kRunFile = "extract.json";

// Everything that determines the content of the shard set. A directory made with different
// values is refused, so that shards of different models, inputs or tiers never mix.
json run_identity(const ExtractOptions& o, const ShardSetInfo& info, const InputPlan& plan,
                  const std::string& labels_sha256) {
  const InputSpec& in = o.input;
  json id = {{"format", "sherl-extract-run"},
             {"version", 1},
             {"backbone", to_json(info.backbone)},
             {"source_sha256", info.source_sha256},
             {"labels_sha256", labels_sha256},
             {"tiers", info.tiers},
             {"late_layers", info.late_layers},
             {"dtype", to_string(info.dtype)},
             {"examples_per_shard", o.examples_per_shard},
             {"examples", plan.selected},
             {"label_kind", to_string(plan.label_kind)},
             {"label_names", plan.label_names},
             {"selection",
              {{"format", plan.format},
               {"select_labels", in.select_labels},
               {"per_label", in.per_label},
               {"limit", in.limit},
               {"text_columns", in.text_columns},
               {"label_column", in.label_column},
               {"max_length", resolved_max_length(in)}}},
             {"compression", {{"zstd_level", o.compression.zstd_level}, {"shuffle", o.compression.shuffle}}}};
  // Recorded only when not f32, so that sets extracted before --precision existed still match.
  if (o.precision != torch::kFloat32) id["precision"] = precision_name(o.precision);
  if (!in.text_template.empty()) id["selection"]["template"] = in.text_template;  // likewise
  return id;
}

// What keeps `dir` from being this extraction's, or "" when nothing does: files that no
// extraction wrote (no extract.json: a consolidated set, a user's own files), or an
// extract.json of another extraction (the keys that differ).
std::string ownership_conflict(const std::string& dir, const json& identity) {
  const fs::path run_file = fs::path(dir) / kRunFile;
  if (!fs::exists(run_file)) {
    std::vector<std::string> foreign;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string name = entry.path().filename().string();
      if (!is_temp_name(name) && name != DirectoryLock::kFileName) foreign.push_back(name);
    }
    if (foreign.empty()) return "";
    std::sort(foreign.begin(), foreign.end());
    return "holds files that sherl-extract did not write (" + foreign.front() +
           (foreign.size() > 1 ? " and " + std::to_string(foreign.size() - 1) + " more" : "") + ")";
  }
  json existing = read_json_file(run_file.string());
  std::string keys;
  for (auto& [key, value] : identity.items())
    if (!existing.contains(key) || existing[key] != value) keys += (keys.empty() ? "" : ", ") + key;
  return keys.empty() ? "" : "was made by another extraction (differs in: " + keys + ")";
}

// Whether `dir` holds results that a conflicting rerun would lose: shards or manifests.
bool holds_results(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (is_shard_set_file_name(entry.path().filename().string())) return true;
  return false;
}

// Makes `dir` this extraction's and records its identity in extract.json. A directory of
// another extraction or tool is refused, or with --overwrite cleared of its shard-set files
// (nothing else) first. An extract.json with no result yet (a first run that failed) is
// replaced without --overwrite. Both happen under the lock of every block, so never while
// another run writes there; and the conflict is looked at again under it, since a partition
// of this same run may have claimed the directory meanwhile (then there is nothing to do).
void claim_directory(const std::string& dir, const json& identity, bool overwrite) {
  const std::string run_file = (fs::path(dir) / kRunFile).string();
  std::string conflict = ownership_conflict(dir, identity);
  if (conflict.empty()) {
    if (!fs::exists(run_file)) write_file_atomic(run_file, identity.dump(2) + "\n");
    return;
  }
  auto refuse_unless_overwrite = [&] {
    if ((holds_results(dir) || !fs::exists(run_file)) && !overwrite)
      throw error_at(dir, conflict + "; use a new or empty --out, or add --overwrite to replace the shard set in it");
  };
  refuse_unless_overwrite();
  std::optional<DirectoryLock> every_block;
  try {
    every_block.emplace(dir, "sherl-extract writing shards there");
  } catch (const Error&) {
    if (ownership_conflict(dir, identity).empty()) return;  // claimed by a partition of this run
    throw;
  }
  conflict = ownership_conflict(dir, identity);
  if (conflict.empty()) return;
  refuse_unless_overwrite();
  remove_shard_set_files(dir);
  write_file_atomic(run_file, identity.dump(2) + "\n");
}

struct Block {
  int64_t index = 0, begin = 0, end = 0;  // selected-example positions [begin, end)
};

std::vector<Block> partition_blocks(int64_t examples, int64_t per_shard, int64_t partition, int64_t partitions) {
  int64_t blocks = (examples + per_shard - 1) / per_shard;
  int64_t first = partition * blocks / partitions, last = (partition + 1) * blocks / partitions;
  std::vector<Block> out;
  for (int64_t b = first; b < last; ++b) out.push_back({b, b * per_shard, std::min(examples, (b + 1) * per_shard)});
  return out;
}

bool is_temp_of(const std::string& name, const std::string& file) { return name.rfind("." + file + ".tmp.", 0) == 0; }

// Temporaries of the files that any partition may write: extract.json, manifest.json and
// the input spools.
bool is_shared_temp(const std::string& name) {
  return is_temp_of(name, kRunFile) || is_temp_of(name, "manifest.json") || is_spool_name(name);
}

// Removes temporaries that an interrupted run left: those of this partition's blocks and
// part manifest (no other process writes them), and those of the shared files whose writer
// no longer runs on this host.
void remove_stale_temporaries(const std::string& dir, const std::vector<Block>& blocks, const std::string& part) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!is_temp_name(name)) continue;
    bool ours = is_temp_of(name, part);
    for (const auto& b : blocks) ours = ours || is_temp_of(name, shard_file_name(b.index));
    if (ours) fs::remove(entry.path());
  }
  remove_orphaned_temporaries(dir, is_shared_temp);
}

// One batch's tiers as stored: [B, T, n_tiers, d] (and for i8 their scales [B, T, n_tiers]),
// and each example's length.
struct BatchTiers {
  std::vector<RawExample> examples;
  torch::Tensor features, scales, lengths;
};

// Starts the backbone over one batch. On a GPU the inputs go through page-locked memory with
// an asynchronous copy, and the returned tensors stay on the GPU, converted to the stored
// dtype there (which halves what crosses the bus for f16/bf16): the work is queued, not
// finished, so that the caller reads the next batch while the GPU computes this one.
BatchTiers compute_batch(BackboneImpl& backbone, std::vector<RawExample> batch, const std::vector<int64_t>& tiers,
                         FeatureDType dtype, torch::Device device) {
  ModelInputs host = collate(batch, backbone.pad_token_id());
  if (device.is_cuda()) host = pin(host);
  ModelInputs inputs = to_device(host, device);
  BatchTiers out;
  torch::Tensor values = compute_tiers(backbone, inputs, tiers);
  if (dtype == FeatureDType::I8) {  // quantised where computed: a quarter of f32 crosses the bus
    Int8Rows q = quantise_rows(values);
    out.features = std::move(q.values);
    out.scales = std::move(q.scales);
  } else {
    out.features = values.to(torch_dtype(dtype));
  }
  out.lengths = backbone.token_mask(inputs).sum(1);
  out.examples = std::move(batch);
  return out;
}

// Brings a batch to the host (waiting for the GPU) and appends each example's valid tokens
// to the open shard (compression happens here). Runs on the shard-writing thread.
void append_batch(ShardSetWriter& writer, const BatchTiers& b) {
  torch::Tensor features = to_host(b.features), lengths = to_host(b.lengths);
  torch::Tensor scales = b.scales.defined() ? to_host(b.scales) : torch::Tensor();
  auto length = lengths.accessor<int64_t, 1>();
  for (size_t i = 0; i < b.examples.size(); ++i)
    writer.append({b.examples[i].id, features[i].slice(0, 0, length[i]).contiguous(), b.examples[i].label,
                   scales.defined() ? scales[i].slice(0, 0, length[i]).contiguous() : torch::Tensor()});
}

ShardSetInfo make_info(const ExtractOptions& o, const BackboneIdentity& id, const InputPlan& plan,
                       const std::string& source_sha256) {
  ShardSetInfo info;
  info.backbone = id;
  info.tiers = resolve_tiers(o.tiers, id.num_layers, o.late_layers);
  info.late_layers = o.late_layers;
  info.dtype = o.dtype;
  info.label_kind = plan.label_kind;
  info.num_labels = plan.num_labels;
  info.label_names = plan.label_names;
  info.source_path = o.source_name.empty() ? o.input.path : o.source_name;
  info.source_sha256 = source_sha256;
  info.tool_version = SHERL_VERSION;
  info.command_line = o.command_line;
  return info;
}

// The estimate of what this run writes: its blocks whose shard is not there yet (a shard of
// an earlier run is kept as a rule; --estimate and the check agree on this), or all of them
// with --overwrite. A text input is read to count its tokens only when `exact`, or when the
// bound of max_length tokens a text does not fit: the check costs no pass over the input
// where there is room.
CacheEstimate estimate_of(const ExtractOptions& o, const InputPlan& plan, const ShardSetInfo& info,
                          const std::vector<Block>& blocks, bool exact) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const Block& b : blocks) {
    std::error_code ec;
    if (o.overwrite || !fs::exists(fs::path(o.out_dir) / shard_file_name(b.index), ec)) ranges.emplace_back(b.begin, b.end);
  }
  const int64_t image_tokens = tokens_per_image(o.model_dir, o.input.tower);
  const bool text = image_tokens == 0;
  const int64_t bound = text ? resolved_max_length(o.input) : image_tokens;
  CacheEstimate e = estimate_cache(o.input, plan, info, ranges, bound, exact && text, o.out_dir);
  if (!exact && text && !e.fits()) e = estimate_cache(o.input, plan, info, ranges, bound, true, o.out_dir);
  return e;
}

void check_free_space(const ExtractOptions& o, const CacheEstimate& e) {
  if (e.fits()) return;
  const std::string narrower = o.dtype == FeatureDType::I8 ? "" : " or a narrower --dtype (i8)";
  throw error_at(o.out_dir, "the features need up to " + human_bytes(e.bytes) + " (" +
                                std::to_string(e.examples) + " examples, " + std::to_string(e.tokens) +
                                " token rows of " + std::to_string(e.row_bytes) + " bytes) but " +
                                human_bytes(e.free_bytes) + " is free at " + e.free_at + ": free space, store fewer --tiers" +
                                narrower + ", or pass --no-space-check");
}

std::string labels_digest(const InputSpec& in) { return in.labels_path.empty() ? "" : sha256_file(in.labels_path); }

}  // namespace

std::vector<int64_t> resolve_tiers(const std::string& spec, int64_t num_layers, int64_t late_layers) {
  if (late_layers < 1 || late_layers > num_layers)
    throw Error("--late-layers " + std::to_string(late_layers) + ": must be between 1 and the backbone's " +
                std::to_string(num_layers) + " layers");
  int64_t last = num_layers - late_layers;
  std::vector<int64_t> tiers;
  if (spec.empty()) throw Error("--tiers is empty: give 'all' or a comma list of tier indices");
  if (spec == "all") {
    for (int64_t t = 0; t <= last; ++t) tiers.push_back(t);
    return tiers;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t t;
    try {
      size_t used = 0;
      t = std::stoll(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error("--tiers " + spec + ": '" + item + "' is not a tier index");
    }
    if (t < 0 || t > last)
      throw Error("--tiers " + spec + ": tier " + item + " is outside 0.." + std::to_string(last) +
                  " (embeddings and the outputs of layers 0.." + std::to_string(last - 1) + ")");
    if (!tiers.empty() && t <= tiers.back()) throw Error("--tiers " + spec + ": list tiers in increasing order");
    tiers.push_back(t);
  }
  if (tiers.empty() || tiers.back() != last) tiers.push_back(last);  // the last tier is always kept
  return tiers;
}

bool merge_partition_manifests(const std::string& out_dir, int64_t partitions) {
  json run = read_json_file((fs::path(out_dir) / kRunFile).string());
  if (!merge_part_manifests(out_dir, partitions, run.at("examples").get<int64_t>())) return false;
  // A partition killed while merging may have left its temporary manifest behind.
  remove_orphaned_temporaries(out_dir, is_shared_temp);
  return true;
}

ExtractReport run_extraction(const ExtractOptions& o) {
  auto start = std::chrono::steady_clock::now();
  if (o.partitions < 1 || o.partition < 0 || o.partition >= o.partitions)
    throw Error("--shard " + std::to_string(o.partition) + "/" + std::to_string(o.partitions) +
                ": expected i/N with 0 <= i < N");
  if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
  if (o.examples_per_shard < 1) throw Error("--examples-per-shard must be at least 1");

  if (std::string problem = compression_problem(o.compression); !problem.empty()) throw Error("--zstd-level: " + problem);

  check_backbone_config(o.model_dir, o.input.tower);  // before its sizes are used (the tiers) or anything is written
  BackboneIdentity id = backbone_identity(o.model_dir, o.input.tower);
  InputPlan plan = plan_input(o.input);
  if (plan.selected == 0) throw error_at(display_of(o.input), "no examples to extract (empty input or nothing selected)");
  ShardSetInfo info = make_info(o, id, plan, sha256_file(o.input.path));
  std::vector<Block> blocks = partition_blocks(plan.selected, o.examples_per_shard, o.partition, o.partitions);
  ExtractReport report;
  if (o.estimate_only || o.check_free_space) report.estimate = estimate_of(o, plan, info, blocks, o.estimate_only);
  if (o.estimate_only) return report;
  if (o.check_free_space) check_free_space(o, report.estimate);
  create_output_directory(o.out_dir);
  const json identity = run_identity(o, info, plan, labels_digest(o.input));
  claim_directory(o.out_dir, identity, o.overwrite);
  // Partitions write disjoint blocks and may run at once; two runs over the same blocks may not.
  std::optional<DirectoryLock> lock;
  if (!blocks.empty())
    lock.emplace(o.out_dir, "sherl-extract writing the same shards", blocks.front().index,
                 static_cast<int64_t>(blocks.size()));
  // Another run may have claimed the directory between the claim and the lock.
  if (std::string conflict = ownership_conflict(o.out_dir, identity); !conflict.empty())
    throw error_at(o.out_dir, conflict + ": another extraction claimed it meanwhile");

  remove_stale_temporaries(o.out_dir, blocks, part_manifest_name(o.partition, o.partitions));
  ShardSetWriter set(o.out_dir, info, o.compression);
  std::vector<bool> done(blocks.size(), false);
  for (size_t b = 0; b < blocks.size(); ++b) {
    report.examples += blocks[b].end - blocks[b].begin;
    std::string why_not;
    done[b] = set.keep_existing(blocks[b].index, blocks[b].end - blocks[b].begin, why_not);
    if (!why_not.empty())
      std::cerr << "sherl-extract: redoing " << (fs::path(o.out_dir) / shard_file_name(blocks[b].index)).string()
                << " (" << why_not << ")\n";
    report.shards_kept += done[b] ? 1 : 0;
  }

  if (report.shards_kept < static_cast<int64_t>(blocks.size())) {
    Backbone backbone = load_backbone(o.model_dir, o.device, o.input.tower, BackboneScope{0, o.precision});
    auto source = open_source(o.input, plan);
    Progress progress("sherl-extract", report.examples, o.quiet);
    torch::InferenceMode inference;
    // Shards are compressed and written by a background thread, which also waits for the
    // GPU, while this one reads and starts the next batches. It appends to the shard this
    // thread opened (`set` outlives the worker), and this thread commits it only after waiting.
    SerialWorker shard_writing(2);
    int64_t position = 0;
    RawExample example;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Block& block = blocks[b];
      bool work = !done[b];
      if (work) set.open_shard(block.index);
      std::vector<RawExample> batch;
      while (position < block.end) {
        if (!source->next(example))
          throw error_at(o.input.path, "input ended after " + std::to_string(position) + " of " +
                                           std::to_string(plan.selected) + " examples (changed while reading?)");
        if (position++ < block.begin || !work) continue;
        batch.push_back(std::move(example));
        if (static_cast<int64_t>(batch.size()) == o.batch_size || position == block.end) {
          int64_t n = static_cast<int64_t>(batch.size());
          auto tiers = std::make_shared<BatchTiers>();
          with_out_of_memory_hint(o.device, o.batch_size, [&] {
            *tiers = compute_batch(*backbone, std::move(batch), info.tiers, o.dtype, o.device);
          });
          shard_writing.submit([&set, tiers] { append_batch(set, *tiers); });
          progress.advance(n);
          batch.clear();
        }
      }
      if (!work) {
        progress.advance(block.end - block.begin);
        continue;
      }
      shard_writing.wait();
      set.commit_shard();
      ++report.shards_written;
    }
    progress.finish();
  }

  // Every partition records its shards; whichever completes the set writes manifest.json.
  set.finish_partition(o.partition, o.partitions);
  report.manifest_written = merge_partition_manifests(o.out_dir, o.partitions);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace sherl
