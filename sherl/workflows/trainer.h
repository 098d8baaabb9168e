#pragma once
// sherl-train's work: train the MTSA and a head through the frozen late layers from cached
// tiers, with AdamW, warm-up and decay, clipping, validation every epoch, the best adapter
// kept, and a checkpoint every epoch from which --resume continues bit-identically (CPU).
#include <torch/torch.h>

#include <optional>
#include <string>

#include "lib/core/json.h"
#include "sherl/method/adapted_model.h"
#include "sherl/workflows/grid.h"
#include "sherl/workflows/online_input.h"

namespace sherl {

// The learning rate after warm-up: half a cosine down to 0 at the last step, a straight
// line down to 0, or the peak throughout.
enum class LrSchedule { Cosine, Linear, Constant };
std::string to_string(LrSchedule s);                 // "cosine", "linear", "constant"
LrSchedule parse_lr_schedule(const std::string& name);  // throws sherl::Error naming the choices

struct TrainOptions {
  std::string model_dir, train_dir, val_dir, out_dir;
  // The online early route (--input instead of --train): the tiers computed from this raw
  // input by the frozen early layers every step. Validation: val_dir (a cache), or the
  // stratified part val_fraction of the input split off with split_seed, as
  // sherl-consolidate splits a cache (so that both routes train on the same examples).
  bool online = false;
  OnlineInputOptions online_input;
  double val_fraction = 0;
  int64_t split_seed = 0;
  std::string task;                      // "" = from the shards' label kind
  // The settings trained, as lists: every combination is a point of the grid, all trained in
  // this process over the same batches. One point: the run directory is out_dir; several:
  // out_dir/points/<name>/ each, and out_dir holds the selected point's adapter and a summary.
  GridAxes grid;
  // The seed of the data order, shared by the points (default: the first of grid.seed, so
  // that a one-point run orders its data by its own seed).
  std::optional<int64_t> data_seed;
  OutputKind output = OutputKind::Ln;
  int64_t epochs = 30;
  int64_t batch_size = 64;
  // Linear warm-up: a fraction of all the run's steps, so that it means the same from a
  // thousand examples to a million; or, when set, this many steps.
  double warmup_fraction = 0.05;
  std::optional<int64_t> warmup_steps;
  int64_t warmup_for(int64_t total_steps) const;
  LrSchedule schedule = LrSchedule::Cosine;  // after warm-up
  double clip_norm = 1.0;                // 0 = no clipping
  int64_t patience = 0;                  // stop after this many epochs without improvement (0 = never)
  // A grid's points run side by side, each on this many of LibTorch's threads (0: one point
  // at a time, on all of them: the memory of one run).
  int threads_per_point = 0;
  int64_t shuffle_buffer_bytes = 256 << 20;  // see sherl/workflows/batch_loader.h
  torch::Device device = torch::kCPU;
  torch::ScalarType precision = torch::kFloat32;  // of the frozen layers (--precision): late, and online all
  bool resume = false;
  bool overwrite = false;                // replace a finished run (adapter, checkpoint, log) in out_dir
  bool quiet = false;
  std::string command_line;
};

// Of the selected point (the only one in a one-point grid).
struct TrainResult {
  std::string point;                     // its name ("" in a one-point grid)
  int64_t epochs_run = 0;
  int64_t best_epoch = 0;
  json best_metrics;
  double seconds_per_epoch = 0;          // mean over the epochs run in this process (of the grid's loop)
  int64_t peak_memory_bytes = 0;         // RSS on CPU, CUDA peak allocated on GPU
};

TrainResult train(const TrainOptions& options);

// Removes what a run killed by SIGKILL left half-written in out_dir (its checkpoints and its
// points' directories included; SIGINT and SIGTERM remove their own).
void remove_run_temporaries(const std::string& out_dir);

// Learning rate at `step` (0-based) of `total` steps, peaking at `peak` after `warmup` steps.
double scheduled_lr(LrSchedule schedule, double peak, int64_t warmup, int64_t step, int64_t total);

}  // namespace sherl
