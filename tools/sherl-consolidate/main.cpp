// sherl-consolidate: measure tier redundancy, select tiers, split off validation data and
// re-pack cached features into training-ready shard sets.
#include <CLI/CLI.hpp>

#include <iostream>

#include "lib/core/cli.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "sherl/workflows/consolidate.h"

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Anti-redundancy consolidation of cached tiers into training-ready shard sets."};
  app.set_version_flag("--version", std::string("sherl-consolidate ") + SHERL_VERSION);
  sherl::ConsolidateOptions o;
  std::string dtype = "f16";
  bool no_shuffle = false;
  app.add_option("--input", o.input_dir, "shard set written by sherl-extract")->required();
  app.add_option("--out", o.out_dir, "output directory: train/, val/, redundancy.json, redundancy.svg")->required();
  app.add_option("--tiers", o.tiers, "all, auto, or a comma list of stored tiers (the last is always kept)")
      ->capture_default_str();
  app.add_option("--threshold", o.threshold, "auto: drop a tier whose redundancy with the kept tier above exceeds this")
      ->capture_default_str();
  app.add_option("--val-fraction", o.val_fraction, "fraction of each class split off for validation")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the validation split")->capture_default_str();
  app.add_option("--sample", o.sample, "examples measured for redundancy (0: all)")->capture_default_str();
  app.add_option("--examples-per-shard", o.examples_per_shard, "examples per output shard")->capture_default_str();
  app.add_option("--dtype", dtype, "stored dtype of the output (i8: int8 with a scale per row)")
      ->check(CLI::IsMember({"f16", "bf16", "f32", "i8"}))
      ->capture_default_str();
  std::string layout = "contiguous";
  app.add_option("--layout", layout,
                 "features as one unfiltered block per shard (contiguous: cheapest training reads) or chunked "
                 "and compressed (smaller)")
      ->check(CLI::IsMember({"contiguous", "chunked"}))
      ->capture_default_str();
  app.add_option("--zstd-level", o.compression.zstd_level,
                 "zstd level of the output, 0 = none (features: chunked layout only)")
      ->capture_default_str();
  app.add_flag("--no-shuffle", no_shuffle, "no HDF5 byte-shuffle before zstd");
  app.add_flag("--quiet", o.quiet, "no progress on stderr");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);

  return sherl::run_tool("sherl-consolidate", [&] {
    o.dtype = sherl::parse_feature_dtype(dtype);
    o.compression.shuffle = !no_shuffle;
    o.contiguous = layout == "contiguous";
    o.command_line = sherl::command_line(argc, argv);
    sherl::json summary = sherl::consolidate(o);
    std::cout << summary.dump(2) << "\n";
    return 0;
  });
}
