// sherl-extract: run a frozen backbone once over a data set and cache the SHERL tiers in
// zstd-compressed HDF5 shards (formats/shard.md).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "lib/core/error.h"
#include "lib/core/cli.h"
#include "lib/core/device.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/core/output_directory.h"
#include "lib/core/json.h"
#include "lib/extract/extractor.h"
#include "lib/input/input_options.h"
#include "lib/input/spool.h"

namespace {

void parse_partition(const std::string& spec, sherl::ExtractOptions& o) {
  auto slash = spec.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(spec);
    o.partition = std::stoll(spec.substr(0, slash));
    o.partitions = std::stoll(spec.substr(slash + 1));
  } catch (const std::exception&) {
    throw sherl::Error("--shard " + spec + ": expected i/N, e.g. 0/4");
  }
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Run a frozen backbone over a data set once and cache its tiers in feature shards."};
  app.set_version_flag("--version", std::string("sherl-extract ") + SHERL_VERSION);
  sherl::ExtractOptions o;
  std::string input, tiers = "all", dtype = "f16", shard = "0/1", precision = "f32", task = "classify", tower;
  sherl::ComputeOptions compute;
  bool no_shuffle = false;
  bool merge = false, estimate = false, no_space_check = false;
  app.add_option("--model", o.model_dir, "Hugging Face model directory (config.json, *.safetensors)");
  sherl::add_raw_input_options(app, input, o.input);
  app.add_option("--tower", tower, "the tower of a CLIPModel directory to extract: text or vision")
      ->check(CLI::IsMember({"text", "vision"}));
  app.add_option("--out", o.out_dir, "output shard-set directory")->required();
  app.add_option("--late-layers", o.late_layers, "late layers K the tiers are cut for")->capture_default_str();
  app.add_option("--tiers", tiers, "tiers to store: 'all' or a comma list (0 = embeddings); the last is always kept")
      ->capture_default_str();
  app.add_option("--dtype", dtype, "stored dtype (i8: int8 with a scale per row)")
      ->check(CLI::IsMember({"f16", "bf16", "f32", "i8"}))
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "examples per forward pass")->check(sherl::at_least(1))
      ->capture_default_str();
  app.add_option("--examples-per-shard", o.examples_per_shard, "examples per shard file")->check(sherl::at_least(1))
      ->capture_default_str();
  app.add_option("--shard", shard, "process only the i-th of N contiguous partitions (i/N)")->capture_default_str();
  sherl::add_compute_options(app, compute);
  app.add_option("--precision", precision, "floating point of the frozen forward pass: f32, bf16 or f16 (CUDA)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))->capture_default_str();
  app.add_option("--zstd-level", o.compression.zstd_level, "zstd level, 0 = no compression")->capture_default_str();
  app.add_flag("--no-shuffle", no_shuffle, "no HDF5 byte-shuffle before zstd");
  app.add_option("--task", task, "label kind: classify, regress or multilabel")
      ->check(CLI::IsMember({"classify", "regress", "multilabel"}))->capture_default_str();
  sherl::add_selection_options(app, o.input);
  app.add_flag("--merge", merge, "only merge the partitions' manifests in --out into manifest.json");
  app.add_flag("--estimate", estimate,
               "print the bytes this run's shards will take and the free space at --out (JSON), then stop");
  app.add_flag("--no-space-check", no_space_check, "start even when the estimate exceeds the free space at --out");
  app.add_flag("--overwrite", o.overwrite, "replace a shard set in --out made from another model, input or tier set");
  app.add_flag("--quiet", o.quiet, "no progress line");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);

  return sherl::run_tool("sherl-extract", [&] {
    if (merge) {
      if (!sherl::merge_partition_manifests(o.out_dir))
        throw sherl::Error(o.out_dir + ": cannot merge: some partitions are missing or incomplete");
      return 0;
    }
    if (o.model_dir.empty() || input.empty()) throw sherl::Error("--model and --input are required (all but --merge)");
    sherl::set_threads(compute.threads);
    o.device = sherl::parse_device(compute.device);
    o.precision = sherl::parse_precision(precision, o.device);
    o.dtype = sherl::parse_feature_dtype(dtype);
    o.tiers = tiers;
    o.compression.shuffle = !no_shuffle;
    o.input.label_kind = sherl::parse_task(task);
    o.input.model_dir = o.model_dir;
    if (!tower.empty()) o.input.tower = sherl::parse_tower(tower);
    o.command_line = sherl::command_line(argc, argv);
    parse_partition(shard, o);
    o.estimate_only = estimate;
    o.check_free_space = !no_space_check;
    // Made for the spools; it goes again (with the parents made for it) when the run leaves
    // nothing in it (--estimate, a refusal).
    sherl::ScopedOutputDirectory out_dir(o.out_dir);
    sherl::ExtractReport r;
    {
      // Read twice (a label pre-scan, then the examples): stdin and pipes are spooled first.
      sherl::InputSpools spools = sherl::prepare_input_files(input, o.input, o.out_dir);
      o.source_name = input;
      r = sherl::run_extraction(o);
    }
    if (estimate) {
      const sherl::CacheEstimate& e = r.estimate;
      std::cout << sherl::json{{"examples", e.examples},
                               {"tokens", e.tokens},
                               {"bytes_per_token_row", e.row_bytes},
                               {"bytes", e.bytes},
                               {"bytes_per_example", e.examples > 0 ? e.bytes / e.examples : 0},
                               {"free_bytes", e.free_bytes},
                               {"free_at", e.free_at},
                               {"fits", e.fits()}}
                       .dump()
                << "\n";
      return 0;
    }
    if (!o.quiet)
      std::cerr << "sherl-extract: " << r.examples << " examples in " << r.shards_written << " new shard(s), "
                << r.shards_kept << " kept, " << r.seconds << " s"
                << (r.manifest_written ? "; manifest written" : "; waiting for the other partitions") << "; "
                << sherl::peak_memory_summary(o.device) << "\n";
    return 0;
  });
}
