#include "sherl/workflows/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <ATen/Parallel.h>

#include "lib/core/atomic_file.h"
#include "lib/core/device.h"
#include "lib/core/directory_lock.h"
#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/core/process.h"
#include "lib/core/output_directory.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/model/backbone.h"
#include "sherl/method/adapter_io.h"
#include "sherl/workflows/batch_loader.h"
#include "sherl/workflows/evaluate.h"
#include "sherl/workflows/grid.h"
#include "sherl/workflows/train_checkpoint.h"
#include "sherl/workflows/training_data.h"
#include "sherl/workflows/training_point.h"
#include "sherl/report/metrics.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

constexpr EnumName<LrSchedule> kScheduleNames[] = {
    {LrSchedule::Cosine, "cosine"}, {LrSchedule::Linear, "linear"}, {LrSchedule::Constant, "constant"}};

void check_labels(const Batch& batch, Task task, int64_t num_outputs, const std::string& where) {
  if (task != LabelKind::Class) return;
  auto bad = (batch.labels < 0).logical_or(batch.labels >= num_outputs).nonzero();
  if (bad.numel() > 0) {
    int64_t i = bad[0][0].item<int64_t>();
    throw error_at(where, "example " + std::to_string(batch.ids[i].item<int64_t>()) + " has label " +
                            std::to_string(batch.labels[i].item<int64_t>()) + ", outside the head's range 0.." +
                            std::to_string(num_outputs - 1));
  }
}

void validate(const TrainOptions& o) {
  if (o.epochs < 1) throw Error("--epochs must be at least 1");
  if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
  for (double lr : o.grid.lr)
    if (!(lr > 0) || !std::isfinite(lr)) throw Error("--lr must be positive (" + shortest_decimal(lr) + ")");
  for (double wd : o.grid.weight_decay)
    if (!(wd >= 0) || !std::isfinite(wd)) throw Error("--weight-decay must not be negative (" + shortest_decimal(wd) + ")");
  if (o.warmup_steps && *o.warmup_steps < 0) throw Error("--warmup must not be negative");
  if (!(o.warmup_fraction >= 0 && o.warmup_fraction <= 1))
    throw Error("--warmup-fraction must be between 0 and 1");
  if (!(o.clip_norm >= 0) || !std::isfinite(o.clip_norm)) throw Error("--clip-norm must be a finite number >= 0 (0: none)");
  if (o.patience < 0) throw Error("--patience must not be negative (0: never stop early)");
  if (o.shuffle_buffer_bytes < 0) throw Error("--shuffle-buffer-mb must not be negative");
  if (o.resume && o.overwrite) throw Error("--resume and --overwrite contradict each other: give one");
  if (o.online != o.train_dir.empty()) throw Error("give the training data as --train DIR (a cache) or --input FILE (online), one of them");
}

// Whether the run has validation data to select by (known before anything is read).
bool has_validation(const TrainOptions& o) { return !o.val_dir.empty() || (o.online && o.val_fraction > 0); }

// Whether the run whose log is `log` finished: its last record says so. Without a log
// nothing says it did not.
bool run_finished(const std::string& log) {
  std::ifstream in(log);
  if (!in) return true;
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.find("\"done\"") != std::string::npos;
}

// What --out may hold: nothing of a run, a run to --resume, or anything with --overwrite
// (then the old run's files go first). An adapter without a checkpoint is a finished result
// that nothing could resume: never replaced without --overwrite; unless the run that wrote
// it stopped before its first checkpoint was complete (the adapter is written first), which
// --resume starts afresh, as it starts a run without a checkpoint.
void check_run_directory(const TrainOptions& o, const RunPaths& paths) {
  const bool has_state = fs::exists(checkpoint_state_path(o.out_dir));
  const bool has_adapter = fs::exists(adapter_json_path(o.out_dir)) || fs::exists(adapter_weights_path(o.out_dir));
  if (o.overwrite) return;
  if (has_state && !o.resume)
    throw error_at(o.out_dir, "holds a training run already; add --resume to continue it, --overwrite to replace it, "
                              "or use a new --out");
  if (has_adapter && !has_state && !(o.resume && !run_finished(paths.log)))
    throw error_at(o.out_dir, "holds a trained adapter (adapter.json) and no checkpoint to resume; use a new --out, "
                              "or add --overwrite to replace it");
}

// --overwrite: what an earlier run wrote goes, so that nothing of it mixes with this one.
void clear_run_directory(const TrainOptions& o, const RunPaths& paths) {
  for (const std::string& f : {adapter_json_path(o.out_dir), adapter_weights_path(o.out_dir), paths.log, paths.curve})
    fs::remove(f);
  for (const char* grid_file : {"summary.tsv", "summary.md"}) fs::remove(fs::path(o.out_dir) / grid_file);
  fs::remove_all(paths.checkpoints);
  fs::remove_all(fs::path(o.out_dir) / "points");
  remove_orphaned_temporaries(o.out_dir);
}

}  // namespace

std::string to_string(LrSchedule s) { return name_of(kScheduleNames, s); }

void remove_run_temporaries(const std::string& out_dir) {
  std::vector<fs::path> dirs = {out_dir};
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(fs::path(out_dir) / "points", ignored))
    if (entry.is_directory()) dirs.push_back(entry.path());
  for (const fs::path& dir : dirs)
    for (const fs::path& d : {dir, dir / "checkpoint"}) remove_orphaned_temporaries(d.string());
}
LrSchedule parse_lr_schedule(const std::string& name) { return parse_name(kScheduleNames, name, "--schedule"); }

int64_t TrainOptions::warmup_for(int64_t total_steps) const {
  return warmup_steps ? *warmup_steps : std::llround(warmup_fraction * static_cast<double>(total_steps));
}

double scheduled_lr(LrSchedule schedule, double peak, int64_t warmup, int64_t step, int64_t total) {
  if (step < warmup) return peak * (step + 1) / warmup;
  if (schedule == LrSchedule::Constant) return peak;
  double progress = total > warmup ? double(step - warmup) / double(total - warmup) : 1.0;
  progress = std::min(1.0, std::max(0.0, progress));
  if (schedule == LrSchedule::Linear) return peak * (1.0 - progress);
  return peak * 0.5 * (1.0 + std::cos(M_PI * progress));
}


namespace {

// The data order of an epoch is a function of (data seed, epoch) only, so that a resumed run
// sees exactly the batches an uninterrupted one would.
uint64_t epoch_seed(int64_t seed, int64_t epoch) {
  return static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch);
}

// Takes the points that diverged on the last batch out of `active`: the run's end for a
// one-point run (an error naming the step and the checkpoint kept), a note for a grid's
// point (its adapter of its best epoch stays), an error when no point is left.
void drop_diverged(std::vector<TrainingPoint*>& active, bool one_point, bool quiet) {
  auto diverged = std::stable_partition(active.begin(), active.end(),
                                        [](TrainingPoint* p) { return !p->state().diverged; });
  if (diverged == active.end()) return;
  if (one_point) throw Error((*diverged)->divergence_message());
  for (auto p = diverged; p != active.end(); ++p)
    if (!quiet) std::cerr << "sherl-train: " << (*p)->divergence_message() << "; the grid goes on without it\n";
  active.erase(diverged, active.end());
  if (active.empty()) throw Error("every point of the grid diverged (the loss is not finite): try lower --lr values");
}

// Copies the selected point's adapter into the grid's directory, weights first: adapter.json
// names their checksum, so a reader never pairs files of two points.
void publish_selected(const std::string& point_dir, const std::string& out_dir) {
  if (!std::filesystem::exists(adapter_json_path(point_dir)))
    throw error_at(point_dir, "no point of the grid saved an adapter (no epoch had a finite validation metric)");
  write_file_atomic(adapter_weights_path(out_dir), read_file(adapter_weights_path(point_dir)));
  write_file_atomic(adapter_json_path(out_dir), read_file(adapter_json_path(point_dir)));
}

}  // namespace

TrainResult train(const TrainOptions& options) {
  TrainOptions o = options;
  if (o.grid.lr.empty()) {
    o.grid.lr = has_validation(o) ? kDefaultLrGrid : std::vector<double>{kDefaultLr};
    if (!o.quiet && o.grid.lr.size() > 1)
      std::cerr << "sherl-train: training the default learning rates 0.002, 0.004 and 0.008, picked on validation "
                   "(--lr to train others)\n";
  }
  validate(o);
  const std::vector<GridPoint> grid = expand_grid(o.grid);
  const bool one_point = grid.size() == 1;
  const int64_t data_seed = o.data_seed.value_or(o.grid.seed.front());
  RunPaths paths(o.out_dir);
  std::unique_ptr<TrainingData> data = open_training_data(o);
  const ShardSetInfo& info = data->info();
  Task task = o.task.empty() ? info.label_kind : parse_task(o.task);
  if (task != info.label_kind)
    throw error_at(data->name(), "labels are of kind " + to_string(info.label_kind) + ", which does not fit --task " +
                                     task_name(task));
  if (info.num_labels < 1) throw error_at(data->name(), "records no labels to train a head on");
  std::vector<MtsaOptions> mtsa_options;
  for (const GridPoint& p : grid) {
    MtsaOptions m;
    m.num_tiers = static_cast<int64_t>(info.tiers.size());
    m.hidden_size = info.backbone.hidden_size;
    m.downsample_factor = p.downsample_factor;
    m.projection = p.projection;
    m.output = o.output;
    m.validate();  // before anything is written (recorded for the linear probe too)
    mtsa_options.push_back(m);
  }
  check_run_directory(o, paths);  // before the loading and the lock file: a refusal changes nothing
  const json shared_args = shared_arguments(o, *data);
  const json args = one_point ? point_arguments(shared_args, grid[0], data_seed)
                              : grid_arguments(shared_args, o.grid, data_seed);
  const std::string state_path = checkpoint_state_path(o.out_dir);
  // A checkpoint of other arguments or data is refused before the (online: whole) backbone
  // and the input are loaded; read again under the lock below.
  if (o.resume && fs::exists(state_path)) resumable_checkpoint(state_path, args, !one_point);
  // Before anything is written too: the online route reads its whole input here, and what
  // it refuses while reading (an unreadable example, too many to hold) leaves no trace.
  Backbone backbone = data->load();
  create_output_directory(o.out_dir);
  DirectoryLock lock(o.out_dir, "sherl-train run");
  check_run_directory(o, paths);  // again: another run may have finished meanwhile
  if (o.overwrite) clear_run_directory(o, paths);
  fs::create_directories(paths.checkpoints);

  auto late_route = std::make_shared<LateRoute>(std::move(backbone), info.late_layers, o.precision);
  AdapterInfo adapter;
  adapter.tiers = info.tiers;
  adapter.late_layers = info.late_layers;
  adapter.task = task;
  adapter.num_outputs = info.num_labels;
  adapter.label_names = info.label_names;
  adapter.backbone = info.backbone;
  std::vector<TrainingPoint> points;
  points.reserve(grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    adapter.mtsa = mtsa_options[i];
    adapter.training = point_arguments(shared_args, grid[i], data_seed);
    adapter.training["tool_version"] = SHERL_VERSION;
    adapter.training["command_line"] = o.command_line;
    adapter.training["feature_dtype"] = to_string(info.dtype);  // sherl-predict rounds raw tiers alike
    const std::string dir = one_point ? o.out_dir : (fs::path(o.out_dir) / "points" / grid[i].name).string();
    // Built after the backbone (its modules draw initial values too) and seeded by the
    // point, so that its initialisation depends on its seed alone.
    points.emplace_back(grid[i], dir, mtsa_options[i], adapter, late_route, o.device);
  }

  json checkpoint;  // null: a run starting afresh
  if (o.resume && fs::exists(state_path)) {
    checkpoint = resumable_checkpoint(state_path, args, !one_point);
    std::vector<TrainState> states = checkpoint_states(checkpoint, grid, state_path);
    for (size_t i = 0; i < points.size(); ++i) points[i].resume(states[i]);
    int64_t last = 0;
    for (const TrainState& s : states) last = std::max(last, s.epochs_done);
    if (!o.quiet) std::cerr << "sherl-train: resuming after epoch " << last << "\n";
  } else {
    if (!o.quiet && o.resume && fs::exists(adapter_json_path(o.out_dir)))
      std::cerr << "sherl-train: starting afresh: the adapter in " << o.out_dir
                << " is of a run stopped before its first checkpoint\n";
    for (TrainingPoint& p : points) p.start_afresh();
  }
  std::unique_ptr<JsonLog> grid_log;  // the shared loop's time, for a grid
  if (!one_point) {
    // Cut back to the checkpoint, as the points' logs: epochs after it are trained again.
    if (checkpoint.is_null())
      fs::remove(paths.log);
    else
      fs::resize_file(paths.log, checkpoint.at("log_bytes").get<uintmax_t>());
    grid_log = std::make_unique<JsonLog>(paths.log);
  }

  const int64_t n = data->size();
  const int64_t steps_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  const int64_t warmup = o.warmup_for(total_steps);
  const bool validated = data->has_validation();
  // A grid's points one at a time with all the threads, or side by side (--threads-per-point).
  // On a GPU one after another: the device runs one stream, and each point in flight holds
  // its activations there.
  const int threads = at::get_num_threads();
  const SideBySide side{o.device.is_cpu() ? threads : 1, o.threads_per_point > 0 ? o.threads_per_point : threads};
  int64_t first_epoch = 0;
  for (TrainingPoint& p : points) first_epoch = std::max(first_epoch, p.state().epochs_done);
  TrainResult result;
  double train_seconds = 0;
  for (int64_t epoch = first_epoch; epoch < o.epochs; ++epoch) {
    // Points stopped (patience, divergence), or behind the grid, sit out.
    std::vector<TrainingPoint*> active;
    for (TrainingPoint& p : points)
      if (p.state().epochs_done == epoch && !p.stopped(o.patience)) active.push_back(&p);
    if (active.empty()) break;
    auto start = std::chrono::steady_clock::now();
    for (TrainingPoint* p : active) p->begin_epoch(epoch);
    std::unique_ptr<BatchStream> batches = data->epoch(epoch_seed(data_seed, epoch), o.batch_size);
    Batch batch;
    const int64_t step = active[0]->state().step;  // the same for every active point
    int64_t steps = 0;
    double loading = 0;  // waiting for the next batch (the loader runs ahead on its own thread)
    for (auto wait = std::chrono::steady_clock::now(); batches->next(batch); wait = std::chrono::steady_clock::now()) {
      loading += seconds_since(wait);
      check_labels(batch, task, info.num_labels, data->name());
      if (!o.device.is_cpu()) {  // once, not once per point
        batch.tiers = batch.tiers.to(o.device, true);
        batch.mask = batch.mask.to(o.device, true);
        batch.labels = batch.labels.to(o.device, true);
      }
      side.run(active.size(), [&](size_t i) {
        TrainingPoint& p = *active[i];
        p.step(batch, task, scheduled_lr(o.schedule, p.settings().lr, warmup, step + steps, total_steps), o.clip_norm,
               [&](const Batch& b) { data->check_finite(b); });
      });
      drop_diverged(active, one_point, o.quiet);
      ++steps;
    }
    const double epoch_seconds = seconds_since(start);
    const auto validation_start = std::chrono::steady_clock::now();
    train_seconds += epoch_seconds;
    ++result.epochs_run;

    std::vector<Outputs> validation;
    if (validated) {
      std::vector<AdaptedModel*> models;
      for (TrainingPoint* p : active) models.push_back(&p->model());
      validation = data->validate(models, std::max<int64_t>(o.batch_size, 128), side);
    }
    for (size_t i = 0; i < active.size(); ++i) {  // the points that did not diverge
      TrainingPoint* p = active[i];
      json val_metrics;
      double score = NAN;
      if (validated) {
        val_metrics = task_metrics(task, validation[i].outputs, validation[i].targets);
        json primary = val_metrics.value(primary_metric(task), json());
        score = primary.is_number() ? primary.get<double>() : -INFINITY;
      }
      const double lr = scheduled_lr(o.schedule, p->settings().lr, warmup, std::max<int64_t>(0, step + steps - 1), total_steps);
      // A point's own time in a grid: its steps, not the shared loading.
      const double seconds = one_point ? epoch_seconds : p->step_seconds();
      const bool improved = p->end_epoch(val_metrics, score, lr, seconds);
      if (!o.quiet) {
        std::fprintf(stderr, "sherl-train: %sepoch %lld/%lld loss %.4f", p->label().c_str(),
                     static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs), p->state().train_loss.back());
        if (validated) std::fprintf(stderr, " val %s %.4f", primary_metric(task).c_str(), score);
        std::fprintf(stderr, " (%.2f s, %.0f ex/s)%s\n", seconds, n / seconds, improved ? " *" : "");
      }
      if (!o.quiet && p->stopped(o.patience))
        std::cerr << "sherl-train: " << p->label() << "no improvement for " << o.patience << " epochs; stopping early\n";
    }
    if (grid_log) {
      grid_log->write({{"epoch", epoch + 1}, {"points", active.size()}, {"seconds", epoch_seconds},
                       {"loading_seconds", loading}, {"validation_seconds", seconds_since(validation_start)}});
      if (!o.quiet) std::fprintf(stderr, "sherl-train: epoch %lld of the grid: %zu points, %.2f s\n",
                                 static_cast<long long>(epoch + 1), active.size(), epoch_seconds);
    }
    write_checkpoint(o.out_dir, args, points, active, grid_log ? grid_log->bytes() : 0);
  }

  std::vector<PointOutcome> outcomes;
  const double peak_rss = static_cast<double>(peak_rss_bytes());
  result.peak_memory_bytes = peak_device_memory_bytes(o.device);
  json done = {{"done", true}, {"peak_rss_bytes", peak_rss_bytes()}};
  if (o.device.is_cuda()) done["peak_gpu_bytes"] = result.peak_memory_bytes;
  for (TrainingPoint& p : points) {
    const std::string title = "sherl-train: " + fs::path(o.out_dir).filename().string() +
                              (one_point ? "" : " " + p.settings().name);
    p.finish(title, validated, task, done);
    outcomes.push_back(p.outcome());
  }
  const size_t selected = select_point(outcomes, validated);
  if (!one_point) {
    publish_selected(points[selected].paths().out, o.out_dir);
    write_grid_summary(o.out_dir, grid, outcomes, selected, primary_metric(task), peak_rss / (1 << 20));
    json grid_done = done;
    grid_done.update({{"selected", grid[selected].name}, {"seconds_per_epoch", result.epochs_run ? train_seconds / result.epochs_run : 0}});
    grid_log->write(grid_done);
    if (!o.quiet) std::cerr << "sherl-train: selected " << grid[selected].name << " (summary in " << o.out_dir << "/summary.md)\n";
  }
  result.point = grid[selected].name;
  result.best_epoch = outcomes[selected].best_epoch;
  result.best_metrics = read_adapter_info(o.out_dir).metrics;
  result.seconds_per_epoch = one_point ? outcomes[0].seconds_per_epoch : (result.epochs_run ? train_seconds / result.epochs_run : 0);
  return result;
}

}  // namespace sherl
