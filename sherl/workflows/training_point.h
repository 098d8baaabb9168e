#pragma once
// One point of a training grid (sherl/workflows/grid.h) as sherl-train trains it: its
// adapted model, optimizer, dropout generator, progress, log and files. The grid's loop
// (sherl/workflows/trainer.cpp) hands every point the same batches.
#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/json.h"
#include "sherl/kernels/fused_adamw.h"
#include "sherl/method/adapted_model.h"
#include "sherl/workflows/batch_loader.h"
#include "sherl/workflows/grid.h"

namespace sherl {

// Everything a resumed point needs besides its weights and its optimizer's moments.
struct TrainState {
  int64_t epochs_done = 0;
  int64_t step = 0;
  double best = -INFINITY;
  int64_t best_epoch = 0;
  int64_t since_best = 0;
  std::vector<double> train_loss, val_metric;
  int64_t log_bytes = 0;  // the log is cut back to this on resume
  bool diverged = false;  // its loss stopped being finite: it trains no more (a grid's point)
};
json to_json(const TrainState& s);
TrainState state_from_json(const json& j);

// The files of one point's run directory.
struct RunPaths {
  std::string out, checkpoints, log, curve;
  explicit RunPaths(const std::string& dir);
  std::string model_file(int64_t epoch) const;      // checkpoint/model-<epoch>.pt
  std::string optimizer_file(int64_t epoch) const;  // checkpoint/optimizer-<epoch>.pt
};

// A line-per-record JSON log, flushed after each record.
class JsonLog {
 public:
  explicit JsonLog(const std::string& path);
  void write(const json& line);
  int64_t bytes() { return static_cast<int64_t>(out_.tellp()); }

 private:
  std::ofstream out_;
};

class TrainingPoint {
 public:
  // A new model of `settings`, initialised from its seed; `adapter` describes what it saves
  // (its training arguments included).
  TrainingPoint(const GridPoint& settings, const std::string& dir, const MtsaOptions& mtsa_options,
                const AdapterInfo& adapter, std::shared_ptr<LateRoute> late_route, torch::Device device);

  // Continues from the checkpoint files of `state` (or starts afresh: an empty log).
  void resume(const TrainState& state);
  void start_afresh();

  // Seeds the dropout of `epoch` and resets the epoch's sums.
  void begin_epoch(int64_t epoch);
  // One optimizer step on `batch` (already on the point's device). When the loss is not finite, calls `blame_data` (which
  // throws naming the example when the batch is to blame), marks the point diverged and
  // returns false, without a step.
  bool step(const Batch& batch, Task task, double lr, double clip_norm,
            const std::function<void(const Batch&)>& blame_data);
  // What a one-point run says when it diverged: where, and which checkpoint stays.
  std::string divergence_message() const;
  // Records the epoch: its validation metrics (null without validation) and primary metric,
  // the adapter when it improved, a log record with the epoch's `seconds`. Returns whether it
  // improved.
  bool end_epoch(const json& validation, double score, double lr, double seconds);
  // Writes this epoch's checkpoint files (the grid's state.json, written next, points at them).
  void write_checkpoint_files();
  // Removes the previous epoch's files, once the state no longer points at them.
  void remove_previous_checkpoint_files();
  // Whether it trains no more: diverged, or patience has run out (0: never).
  bool stopped(int64_t patience) const {
    return state_.diverged || (patience > 0 && state_.since_best >= patience);
  }
  // Writes the curve and the log's last record (`done`, with the mean seconds per epoch added).
  void finish(const std::string& title, bool validated, Task task, json done);
  // Seconds of this epoch's steps so far (its own work, not the shared loading).
  double step_seconds() const { return step_seconds_; }

  const GridPoint& settings() const { return settings_; }
  const RunPaths& paths() const { return paths_; }
  const TrainState& state() const { return state_; }
  AdaptedModel& model() { return model_; }
  PointOutcome outcome() const;
  const std::string& label() const { return label_; }  // what messages call the point

 private:
  GridPoint settings_;
  RunPaths paths_;
  AdapterInfo adapter_;
  torch::Device device_;
  AdaptedModel model_{nullptr};
  std::unique_ptr<FusedAdamW> optimizer_;
  at::Generator dropout_;
  TrainState state_;
  std::unique_ptr<JsonLog> log_;
  std::string label_;
  double loss_sum_ = 0, seconds_ = 0, step_seconds_ = 0;
  int64_t seen_ = 0, epochs_timed_ = 0;
};

}  // namespace sherl
