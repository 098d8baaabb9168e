// sherl-train: train a SHERL adapter (MTSA + head) through the frozen late layers, from
// cached tiers or from a raw input through the frozen early layers (the online route).
#include <CLI/CLI.hpp>

#include <iostream>

#include <memory>
#include <optional>

#include "lib/core/atomic_file.h"
#include "lib/core/cli.h"
#include "lib/core/device.h"
#include "lib/core/error.h"
#include "lib/core/output_directory.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/input/input_options.h"
#include "lib/input/spool.h"
#include "sherl/kernels/row_parallel_linear.h"
#include "sherl/workflows/trainer.h"

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Train a SHERL adapter (MTSA + head) through the frozen late layers from cached tiers, or from a raw "
               "input through the frozen early layers."};
  app.set_version_flag("--version", std::string("sherl-train ") + SHERL_VERSION);
  sherl::TrainOptions o;
  std::string precision = "f32", output = "ln", schedule = "cosine";
  // The grid's settings: comma lists (or repeated options); every combination is trained.
  std::vector<std::string> methods = {"sherl"}, projections = {"linear-ln"}, factors = {"2"},
                           weight_decays = {"0.01"}, lrs, seeds = {"0"};
  sherl::ComputeOptions compute;
  app.add_option("--model", o.model_dir, "the Hugging Face model directory the shards were extracted with")->required();
  app.add_option("--train", o.train_dir, "training shard set (or --input: the online route)");
  app.add_option("--val", o.val_dir, "validation shard set (best epoch kept by its metric)");
  // The online route: the options of sherl-extract that describe the input and its tiers.
  std::string input, tower;
  sherl::InputSpec& spec = o.online_input.input;
  sherl::add_raw_input_options(app, input, spec);
  app.add_option("--tower", tower, "with --input: the tower of a CLIPModel directory to train: text or vision")
      ->check(CLI::IsMember({"text", "vision"}));
  sherl::add_selection_options(app, spec);
  app.add_option("--late-layers", o.online_input.late_layers, "with --input: late layers K (the early route runs the others)")
      ->check(sherl::at_least(1))->capture_default_str();
  app.add_option("--tiers", o.online_input.tiers, "with --input: tiers the MTSA reads, 'all' or a comma list (0 = embeddings)")
      ->capture_default_str();
  app.add_option("--val-fraction", o.val_fraction,
                 "with --input: the stratified part of it to validate on, split as sherl-consolidate splits")
      ->capture_default_str();
  app.add_option("--split-seed", o.split_seed, "with --input: seed of the validation split")->capture_default_str();
  app.add_option("--out", o.out_dir, "run directory: adapter, checkpoint/, train.jsonl, curve.svg")->required();
  app.add_option("--task", o.task, "classify, regress or multilabel (default: from the shards' labels; classify with --input)")
      ->check(CLI::IsMember({"classify", "regress", "multilabel"}));
  app.add_option("--method", methods, "sherl (MTSA + late route) or linear (linear probe on the final feature); a list: a grid")
      ->check(sherl::comma_list_of<std::string>({"sherl", "linear"}))->capture_default_str();
  app.add_option("--projection", projections, "MTSA tier projection; a list: a grid")
      ->check(sherl::comma_list_of<std::string>({"linear-ln", "gated"}))->capture_default_str();
  app.add_option("--output", output, "MTSA output: ln (BERT/ViT style) or linear (T5 style)")
      ->check(CLI::IsMember({"ln", "linear"}))->capture_default_str();
  app.add_option("--downsample-factor", factors, "MTSA width h = d / factor; a list: a grid")
      ->check(sherl::comma_list_of<int64_t>())->capture_default_str();
  app.add_option("--epochs", o.epochs, "epochs")->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "examples per step")->capture_default_str();
  app.add_option("--lr", lrs, "peak learning rate (AdamW); a list: a grid (default: 0.002, 0.004 and 0.008 "
                 "with validation data, picked on it; else 0.002)")
      ->check(sherl::comma_list_of<double>());
  app.add_option("--weight-decay", weight_decays, "AdamW weight decay; a list: a grid")
      ->check(sherl::comma_list_of<double>())->capture_default_str();
  auto* fraction = app.add_option("--warmup-fraction", o.warmup_fraction, "linear warm-up over this fraction of all steps")
                       ->capture_default_str();
  app.add_option("--warmup", o.warmup_steps, "linear warm-up steps (instead of --warmup-fraction)")->excludes(fraction);
  app.add_option("--schedule", schedule, "decay after warm-up")
      ->check(CLI::IsMember({"cosine", "linear", "constant"}))->capture_default_str();
  app.add_option("--clip-norm", o.clip_norm, "gradient-norm clipping (0: none)")->capture_default_str();
  app.add_option("--patience", o.patience, "stop after this many epochs without improvement (0: never)")
      ->capture_default_str();
  app.add_option("--seed", seeds, "seed of initialisation and dropout (and of the data order, unless --data-seed); "
                 "a list: a grid")->check(sherl::comma_list_of<int64_t>())->capture_default_str();
  app.add_option("--data-seed", o.data_seed, "seed of the data order, shared by a grid's points (default: the first --seed)");
  app.add_option("--threads-per-point", o.threads_per_point,
                 "a grid's points run side by side, this many of --threads each (0: one at a time on all)")
      ->check(sherl::at_least(0))->capture_default_str();
  int64_t shuffle_mb = o.shuffle_buffer_bytes >> 20;
  app.add_option("--shuffle-buffer-mb", shuffle_mb, "memory for shuffling examples across shards (MiB)")
      ->capture_default_str();
  sherl::add_compute_options(app, compute);
  app.add_option("--precision", precision, "floating point of the frozen late layers (with --input, of all frozen layers): f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
  app.add_flag("--resume", o.resume, "continue the run in --out from its last checkpoint");
  app.add_flag("--overwrite", o.overwrite, "replace a run or adapter already in --out");
  app.add_flag("--quiet", o.quiet, "no progress on stderr");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);
  const char* online_only[] = {"--labels", "--format", "--text-columns", "--label-column", "--max-length",
                               "--template", "--tower", "--select-labels", "--per-label", "--limit",
                               "--late-layers", "--tiers", "--val-fraction", "--split-seed"};

  return sherl::run_tool("sherl-train", [&] {
    sherl::set_threads(compute.threads);
    sherl::use_single_threaded_blas();  // the MTSA's products run on LibTorch's threads
    o.device = sherl::parse_device(compute.device);
    o.precision = sherl::parse_precision(precision, o.device);
    sherl::GridAxes& grid = o.grid;
    grid.method.clear();
    grid.projection.clear();
    for (const std::string& m : sherl::comma_items(methods)) grid.method.push_back(sherl::parse_method(m));
    for (const std::string& p : sherl::comma_items(projections)) grid.projection.push_back(sherl::parse_projection_kind(p));
    grid.downsample_factor = sherl::comma_list_values<int64_t>(factors);
    grid.weight_decay = sherl::comma_list_values<double>(weight_decays);
    grid.lr = sherl::comma_list_values<double>(lrs);
    grid.seed = sherl::comma_list_values<int64_t>(seeds);
    o.output = sherl::parse_output_kind(output);
    o.schedule = sherl::parse_lr_schedule(schedule);
    o.shuffle_buffer_bytes = shuffle_mb << 20;
    o.command_line = sherl::command_line(argc, argv);
    o.online = !input.empty();
    for (const char* name : online_only)
      if (!o.online && app.get_option(name)->count() > 0)
        throw sherl::Error(std::string(name) + " describes a raw input: it goes with --input (the online route)");
    // The online route reads its input twice (a label pre-scan, then the examples): stdin
    // and pipes are spooled into --out, which goes again when the run leaves nothing in it.
    std::optional<sherl::ScopedOutputDirectory> out_dir;
    sherl::InputSpools spools;
    if (o.online) {
      spec.model_dir = o.model_dir;
      spec.label_kind = o.task.empty() ? sherl::LabelKind::Class : sherl::parse_task(o.task);
      if (!tower.empty()) spec.tower = sherl::parse_tower(tower);
      o.online_input.model_dir = o.model_dir;
      o.online_input.source_name = input;
      o.online_input.quiet = o.quiet;
      out_dir.emplace(o.out_dir);
      spools = sherl::prepare_input_files(input, spec, o.out_dir);
    }
    // Temporaries of a run killed by SIGKILL (SIGINT and SIGTERM remove their own).
    if (o.resume) sherl::remove_run_temporaries(o.out_dir);
    sherl::TrainResult r = sherl::train(o);
    if (!o.quiet)
      std::cerr << "sherl-train: " << (r.point.empty() ? "" : "selected " + r.point + ", ") << "best epoch "
                << r.best_epoch << ", " << r.seconds_per_epoch << " s per epoch, "
                << sherl::peak_memory_summary(o.device) << "\n";
    if (!r.point.empty()) r.best_metrics["point"] = r.point;
    std::cout << r.best_metrics.dump(2) << "\n";
    return 0;
  });
}
