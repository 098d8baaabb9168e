#include "sherl/workflows/training_point.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/device.h"
#include "lib/core/error.h"
#include "lib/core/process.h"
#include "sherl/kernels/dropout.h"
#include "sherl/method/adapter_io.h"
#include "sherl/report/metrics.h"
#include "sherl/report/svg_plot.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

// Serialised in memory, then written by us: LibTorch's own file writer throws from a
// destructor when a write fails (a full disk), which aborts the process.
template <typename T>
void save_atomic(T& object, const std::string& path) {
  std::ostringstream bytes;
  torch::save(object, bytes);
  write_file_atomic(path, bytes.str());
}

void set_lr(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace

json to_json(const TrainState& s) {
  return {{"epochs_done", s.epochs_done}, {"step", s.step}, {"best", std::isfinite(s.best) ? json(s.best) : json()},
          {"best_epoch", s.best_epoch}, {"since_best", s.since_best}, {"train_loss", s.train_loss},
          {"val_metric", s.val_metric}, {"log_bytes", s.log_bytes}, {"diverged", s.diverged}};
}

TrainState state_from_json(const json& j) {
  TrainState s;
  s.epochs_done = j.at("epochs_done");
  s.step = j.at("step");
  s.best = j.at("best").is_null() ? -INFINITY : j.at("best").get<double>();
  s.best_epoch = j.at("best_epoch");
  s.since_best = j.at("since_best");
  s.train_loss = j.at("train_loss").get<std::vector<double>>();
  for (auto& v : j.at("val_metric")) s.val_metric.push_back(v.is_null() ? NAN : v.get<double>());
  s.log_bytes = j.at("log_bytes");
  s.diverged = j.value("diverged", false);
  return s;
}

RunPaths::RunPaths(const std::string& dir)
    : out(dir), checkpoints((fs::path(dir) / "checkpoint").string()), log((fs::path(dir) / "train.jsonl").string()),
      curve((fs::path(dir) / "curve.svg").string()) {}

std::string RunPaths::model_file(int64_t epoch) const {
  return checkpoints + "/model-" + std::to_string(epoch) + ".pt";
}

std::string RunPaths::optimizer_file(int64_t epoch) const {
  return checkpoints + "/optimizer-" + std::to_string(epoch) + ".pt";
}

JsonLog::JsonLog(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw error_at(path, "cannot open the training log");
}

void JsonLog::write(const json& line) {
  out_ << line.dump() << "\n";
  out_.flush();
}

TrainingPoint::TrainingPoint(const GridPoint& settings, const std::string& dir, const MtsaOptions& mtsa_options,
                             const AdapterInfo& adapter, std::shared_ptr<LateRoute> late_route, torch::Device device)
    : settings_(settings), paths_(dir), adapter_(adapter), device_(device),
      dropout_(at::detail::createCPUGenerator(0)),
      label_(settings.name.empty() ? std::string() : "point " + settings.name + ": ") {
  torch::manual_seed(static_cast<uint64_t>(settings.seed));
  model_ = AdaptedModel(settings.method, mtsa_options, adapter.num_outputs, std::move(late_route));
  model_->to(device);
  optimizer_ = std::make_unique<FusedAdamW>(model_->parameters(),
                                            torch::optim::AdamWOptions(settings.lr).weight_decay(settings.weight_decay));
  fs::create_directories(paths_.checkpoints);
}

void TrainingPoint::resume(const TrainState& state) {
  state_ = state;
  // Onto the training device: a run may resume on another device than it started on. (A
  // grid's point that diverged in its first epoch has no files, and trains no more.)
  if (state_.epochs_done > 0) {
    torch::load(model_, paths_.model_file(state_.epochs_done), device_);
    torch::load(*optimizer_, paths_.optimizer_file(state_.epochs_done), device_);
  }
  fs::resize_file(paths_.log, static_cast<uintmax_t>(state_.log_bytes));
  log_ = std::make_unique<JsonLog>(paths_.log);
}

void TrainingPoint::start_afresh() {
  fs::remove(paths_.log);
  log_ = std::make_unique<JsonLog>(paths_.log);
}

void TrainingPoint::begin_epoch(int64_t epoch) {
  // The dropout of an epoch is a function of (seed, epoch) only, like its data order.
  dropout_.set_current_seed(static_cast<uint64_t>(settings_.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
  model_->train();
  loss_sum_ = 0;
  seen_ = 0;
  step_seconds_ = 0;
}

bool TrainingPoint::step(const Batch& batch, Task task, double lr, double clip_norm,
                         const std::function<void(const Batch&)>& blame_data) {
  auto start = std::chrono::steady_clock::now();
  DropoutGeneratorScope scope(dropout_);
  set_lr(*optimizer_, lr);
  optimizer_->zero_grad();
  double loss_value = 0;
  bool finite = true;
  with_out_of_memory_hint(device_, batch.ids.size(0), [&] {
    torch::Tensor outputs = model_->forward(batch.tiers, batch.mask);
    torch::Tensor loss = task_loss(task, outputs, batch.labels);
    loss_value = loss.item<double>();
    finite = std::isfinite(loss_value);
    if (!finite) return;
    loss.backward();
    if (clip_norm > 0) clip_grad_norm(model_->parameters(), clip_norm);
    optimizer_->step();
  });
  if (!finite) {
    blame_data(batch);  // throws naming the example when the data is to blame
    state_.diverged = true;
    log_->write({{"step", state_.step}, {"diverged", true}, {"lr", lr}});
    state_.log_bytes = log_->bytes();
    return false;
  }
  ++state_.step;
  loss_sum_ += loss_value * batch.ids.size(0);
  seen_ += batch.ids.size(0);
  if (state_.step % 20 == 0) log_->write({{"step", state_.step}, {"loss", loss_value}, {"lr", lr}});
  step_seconds_ += seconds_since(start);
  return true;
}

std::string TrainingPoint::divergence_message() const {
  return label_ + "step " + std::to_string(state_.step) + " (epoch " + std::to_string(state_.epochs_done + 1) +
         "): the loss is not finite (a diverging run: try a lower --lr or --clip-norm); stopped, " +
         (state_.epochs_done > 0 ? "the checkpoint of epoch " + std::to_string(state_.epochs_done) + " is kept in " +
                                       paths_.checkpoints
                                 : std::string("no checkpoint was written yet"));
}

bool TrainingPoint::end_epoch(const json& validation, double score, double lr, double seconds) {
  const double train_loss = loss_sum_ / std::max<int64_t>(1, seen_);
  const bool validated = !validation.is_null();
  if (!validated) score = -train_loss;  // without validation data the last epoch is kept
  state_.epochs_done += 1;
  state_.train_loss.push_back(train_loss);
  state_.val_metric.push_back(validated ? score : NAN);
  const bool improved = !validated || score > state_.best;
  if (improved) {
    state_.best = score;
    state_.best_epoch = state_.epochs_done;
    state_.since_best = 0;
    adapter_.metrics = {{"epoch", state_.epochs_done}, {"train_loss", train_loss}};
    if (validated) adapter_.metrics["validation"] = validation;
    save_adapter(paths_.out, adapter_, model_->mtsa(), model_->head());
  } else {
    ++state_.since_best;
  }
  seconds_ += seconds;
  ++epochs_timed_;
  log_->write({{"epoch", state_.epochs_done}, {"step", state_.step}, {"loss", train_loss}, {"lr", lr},
               {"validation", validation}, {"examples_per_s", seen_ / seconds}, {"seconds", seconds}});
  state_.log_bytes = log_->bytes();
  return improved;
}

void TrainingPoint::write_checkpoint_files() {
  save_atomic(model_, paths_.model_file(state_.epochs_done));
  save_atomic(*optimizer_, paths_.optimizer_file(state_.epochs_done));
}

void TrainingPoint::remove_previous_checkpoint_files() {
  if (state_.epochs_done <= 1) return;
  fs::remove(paths_.model_file(state_.epochs_done - 1));
  fs::remove(paths_.optimizer_file(state_.epochs_done - 1));
}

void TrainingPoint::finish(const std::string& title, bool validated, Task task, json done) {
  std::vector<Series> curve = {{"train loss", state_.train_loss, "#d62728"}};
  if (validated) curve.push_back({"validation " + primary_metric(task), state_.val_metric, "#1f77b4"});
  write_file_atomic(paths_.curve, svg_line_chart(title, "epoch", curve));
  done["best_epoch"] = state_.best_epoch;
  done["seconds_per_epoch"] = outcome().seconds_per_epoch;
  log_->write(done);
}

PointOutcome TrainingPoint::outcome() const {
  PointOutcome o;
  o.epochs_done = state_.epochs_done;
  o.best_epoch = state_.best_epoch;
  o.best_validation = state_.best_epoch > 0 ? state_.val_metric[state_.best_epoch - 1] : NAN;
  o.last_train_loss = state_.train_loss.empty() ? INFINITY : state_.train_loss.back();
  o.seconds_per_epoch = epochs_timed_ ? seconds_ / epochs_timed_ : 0;
  o.diverged = state_.diverged;
  return o;
}

}  // namespace sherl
