#include "sherl/workflows/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/device.h"
#include "lib/core/directory_lock.h"
#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/core/output_directory.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/model/backbone.h"
#include "sherl/method/adapter_io.h"
#include "sherl/workflows/batch_loader.h"
#include "sherl/workflows/evaluate.h"
#include "sherl/workflows/training_data.h"
#include "sherl/kernels/fused_adamw.h"
#include "sherl/report/metrics.h"
#include "sherl/report/svg_plot.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

constexpr EnumName<LrSchedule> kScheduleNames[] = {
    {LrSchedule::Cosine, "cosine"}, {LrSchedule::Linear, "linear"}, {LrSchedule::Constant, "constant"}};

// Everything a resumed run needs besides the weights and the optimizer's moments.
struct TrainState {
  int64_t epochs_done = 0;
  int64_t step = 0;
  double best = -INFINITY;
  int64_t best_epoch = 0;
  int64_t since_best = 0;
  std::vector<double> train_loss, val_metric;
  int64_t log_bytes = 0;  // the log is cut back to this on resume
};

json to_json(const TrainState& s) {
  return {{"epochs_done", s.epochs_done}, {"step", s.step}, {"best", std::isfinite(s.best) ? json(s.best) : json()},
          {"best_epoch", s.best_epoch}, {"since_best", s.since_best}, {"train_loss", s.train_loss},
          {"val_metric", s.val_metric}, {"log_bytes", s.log_bytes}};
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
  return s;
}

// The arguments that define a run; --resume refuses a checkpoint made with others. The data
// and the backbone are compared by content (the manifests' or the input's and the model
// files' hashes), not by how their paths are spelled: the paths are recorded, not compared.
json run_arguments(const TrainOptions& o, const TrainingData& data) {
  json args = {{"model", o.model_dir}, {"task", o.task},
          {"method", to_string(o.method)}, {"projection", to_string(o.projection)}, {"output", to_string(o.output)},
          {"downsample_factor", o.downsample_factor}, {"epochs", o.epochs}, {"batch_size", o.batch_size},
          {"lr", o.lr}, {"weight_decay", o.weight_decay}, {"warmup_steps", o.warmup_steps},
          {"schedule", to_string(o.schedule)}, {"clip_norm", o.clip_norm}, {"patience", o.patience}, {"seed", o.seed}};
  if (!o.online) args["shuffle_buffer_bytes"] = o.shuffle_buffer_bytes;  // no effect online
  // Only when not f32, so that checkpoints from before --precision still resume.
  if (o.precision != torch::kFloat32) args["precision"] = precision_name(o.precision);
  args.update(data.identity());
  return args;
}

// Arguments that may differ on resume: more epochs or patience, and the paths (the
// content behind them is compared through the identities above).
bool may_differ_on_resume(const std::string& key) {
  return key == "epochs" || key == "patience" || key == "model" || is_data_path_key(key);
}

// Keys that checkpoints written before they existed lack: such a checkpoint still resumes
// (its paths were compared as strings when it was made).
bool predates(const std::string& key) {
  return key == "backbone" || key == "train_manifest_sha256" || key == "val_manifest_sha256";
}

std::string resume_difference(const std::string& key, const json& saved, const json& now) {
  if (key == "backbone") return "another backbone (--model's config, weights or preprocessing files differ)";
  if (key == "train_manifest_sha256") return "other training data (the manifest of --train differs)";
  if (key == "val_manifest_sha256") return "other validation data (the manifest of --val differs)";
  if (key == "input_sha256") return "another training input (the content of --input differs)";
  if (key == "labels_sha256") return "other labels (the content of --labels differs)";
  return "--" + key + " " + saved.dump() + ", not " + now.dump();
}

// The data order of an epoch is a function of (seed, epoch) only, so that a resumed run
// sees exactly the batches an uninterrupted one would.
uint64_t epoch_seed(int64_t seed, int64_t epoch) {
  return static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch);
}

struct RunPaths {
  std::string out, checkpoints, state, log, curve;
  explicit RunPaths(const std::string& dir)
      : out(dir), checkpoints((fs::path(dir) / "checkpoint").string()),
        state((fs::path(dir) / "checkpoint" / "state.json").string()),
        log((fs::path(dir) / "train.jsonl").string()), curve((fs::path(dir) / "curve.svg").string()) {}
  std::string model_file(int64_t epoch) const { return checkpoints + "/model-" + std::to_string(epoch) + ".pt"; }
  std::string optimizer_file(int64_t epoch) const {
    return checkpoints + "/optimizer-" + std::to_string(epoch) + ".pt";
  }
};

// Serialised in memory, then written by us: LibTorch's own file writer throws from a
// destructor when a write fails (a full disk), which aborts the process.
template <typename T>
void save_atomic(T& object, const std::string& path) {
  std::ostringstream bytes;
  torch::save(object, bytes);
  write_file_atomic(path, bytes.str());
}

// Writes the epoch's checkpoint: weights and optimizer under epoch-numbered names, then
// state.json (atomically) pointing at them; older files go only after that.
void write_checkpoint(const RunPaths& p, AdaptedModel& model, torch::optim::AdamW& optimizer, const TrainState& s,
                      const json& args) {
  save_atomic(model, p.model_file(s.epochs_done));
  save_atomic(optimizer, p.optimizer_file(s.epochs_done));
  json state = {{"format", "sherl-train-checkpoint"}, {"version", 1}, {"arguments", args}, {"state", to_json(s)}};
  write_file_atomic(p.state, state.dump(2) + "\n");
  if (s.epochs_done > 1) {
    fs::remove(p.model_file(s.epochs_done - 1));
    fs::remove(p.optimizer_file(s.epochs_done - 1));
  }
}

// The checkpoint's state.json, refused unless made with `args` (see may_differ_on_resume).
// Cheap: read before the backbone and the data are loaded.
json resumable_checkpoint(const RunPaths& p, const json& args) {
  json state = read_json_file(p.state);
  if (state.value("format", "") != "sherl-train-checkpoint" || state.value("version", 0) != 1)
    throw error_at(p.state, "not a sherl-train checkpoint of a version this tool reads");
  json saved = state.at("arguments");
  json keys = saved;
  keys.update(args);  // every argument of either run: one may lack what the other has
  for (auto& [key, ignored] : keys.items())
    if (!may_differ_on_resume(key) && !(predates(key) && !saved.contains(key)) &&
        saved.value(key, json()) != args.value(key, json()))
      throw error_at(p.state, "the checkpoint was made with " +
                                  resume_difference(key, saved.value(key, json()), args.value(key, json())) +
                                  "; --resume needs the same arguments and data");
  return state;
}

// Restores the model, the optimizer and the log of the checkpoint `state` (resumable_checkpoint).
TrainState resume_checkpoint(const RunPaths& p, const json& state, torch::Device device, AdaptedModel& model,
                             torch::optim::AdamW& optimizer) {
  TrainState s = state_from_json(state.at("state"));
  // Onto the training device: a run may resume on another device than it started on.
  torch::load(model, p.model_file(s.epochs_done), device);
  torch::load(optimizer, p.optimizer_file(s.epochs_done), device);
  fs::resize_file(p.log, static_cast<uintmax_t>(s.log_bytes));
  return s;
}

class JsonLog {
 public:
  explicit JsonLog(const std::string& path) : out_(path, std::ios::app) {
    if (!out_) throw error_at(path, "cannot open the training log");
  }
  void write(const json& line) {
    out_ << line.dump() << "\n";
    out_.flush();
  }
  int64_t bytes() { return static_cast<int64_t>(out_.tellp()); }

 private:
  std::ofstream out_;
};

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

void set_lr(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

void validate(const TrainOptions& o) {
  if (o.epochs < 1) throw Error("--epochs must be at least 1");
  if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
  if (!(o.lr > 0)) throw Error("--lr must be positive");
  if (o.weight_decay < 0) throw Error("--weight-decay must not be negative");
  if (o.warmup_steps < 0) throw Error("--warmup must not be negative");
  if (!(o.clip_norm >= 0) || !std::isfinite(o.clip_norm)) throw Error("--clip-norm must be a finite number >= 0 (0: none)");
  if (o.patience < 0) throw Error("--patience must not be negative (0: never stop early)");
  if (o.shuffle_buffer_bytes < 0) throw Error("--shuffle-buffer-mb must not be negative");
  if (o.resume && o.overwrite) throw Error("--resume and --overwrite contradict each other: give one");
  if (o.online != o.train_dir.empty()) throw Error("give the training data as --train DIR (a cache) or --input FILE (online), one of them");
}

// Whether the run whose log is in `paths` finished: its last record says so. Without a log
// nothing says it did not.
bool run_finished(const RunPaths& paths) {
  std::ifstream in(paths.log);
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
  const bool has_state = fs::exists(paths.state);
  const bool has_adapter = fs::exists(adapter_json_path(o.out_dir)) || fs::exists(adapter_weights_path(o.out_dir));
  if (o.overwrite) return;
  if (has_state && !o.resume)
    throw error_at(o.out_dir, "holds a training run already; add --resume to continue it, --overwrite to replace it, "
                              "or use a new --out");
  if (has_adapter && !has_state && !(o.resume && !run_finished(paths)))
    throw error_at(o.out_dir, "holds a trained adapter (adapter.json) and no checkpoint to resume; use a new --out, "
                              "or add --overwrite to replace it");
}

// --overwrite: what an earlier run wrote goes, so that nothing of it mixes with this one.
void clear_run_directory(const TrainOptions& o, const RunPaths& paths) {
  for (const std::string& f : {adapter_json_path(o.out_dir), adapter_weights_path(o.out_dir), paths.log, paths.curve})
    fs::remove(f);
  fs::remove_all(paths.checkpoints);
  remove_orphaned_temporaries(o.out_dir);
}

}  // namespace

std::string to_string(LrSchedule s) { return name_of(kScheduleNames, s); }
LrSchedule parse_lr_schedule(const std::string& name) { return parse_name(kScheduleNames, name, "--schedule"); }

double scheduled_lr(const TrainOptions& o, int64_t step, int64_t total) {
  if (step < o.warmup_steps) return o.lr * (step + 1) / o.warmup_steps;
  if (o.schedule == LrSchedule::Constant) return o.lr;
  double progress = total > o.warmup_steps ? double(step - o.warmup_steps) / double(total - o.warmup_steps) : 1.0;
  progress = std::min(1.0, std::max(0.0, progress));
  if (o.schedule == LrSchedule::Linear) return o.lr * (1.0 - progress);
  return o.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

TrainResult train(const TrainOptions& o) {
  validate(o);
  RunPaths paths(o.out_dir);
  std::unique_ptr<TrainingData> data = open_training_data(o);
  const ShardSetInfo& info = data->info();
  Task task = o.task.empty() ? info.label_kind : parse_task(o.task);
  if (task != info.label_kind)
    throw error_at(data->name(), "labels are of kind " + to_string(info.label_kind) + ", which does not fit --task " +
                                     task_name(task));
  if (info.num_labels < 1) throw error_at(data->name(), "records no labels to train a head on");
  MtsaOptions mtsa_options;
  mtsa_options.num_tiers = static_cast<int64_t>(info.tiers.size());
  mtsa_options.hidden_size = info.backbone.hidden_size;
  mtsa_options.downsample_factor = o.downsample_factor;
  mtsa_options.projection = o.projection;
  mtsa_options.output = o.output;
  mtsa_options.validate();  // before anything is written (recorded for the linear probe too)
  check_run_directory(o, paths);  // before the loading and the lock file: a refusal changes nothing
  const json args = run_arguments(o, *data);
  // A checkpoint of other arguments or data is refused before the (online: whole) backbone
  // and the input are loaded; read again under the lock below.
  if (o.resume && fs::exists(paths.state)) resumable_checkpoint(paths, args);
  // Before anything is written too: the online route reads its whole input here, and what
  // it refuses while reading (an unreadable example, too many to hold) leaves no trace.
  Backbone backbone = data->load();
  create_output_directory(o.out_dir);
  DirectoryLock lock(o.out_dir, "sherl-train run");
  check_run_directory(o, paths);  // again: another run may have finished meanwhile
  if (o.overwrite) clear_run_directory(o, paths);
  fs::create_directories(paths.checkpoints);

  auto late_route = std::make_shared<LateRoute>(std::move(backbone), info.late_layers, o.precision);
  // Seeded after the backbone is built (its modules draw initial values too), so that the
  // adapter's initialisation depends on the seed alone.
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  AdaptedModel model(o.method, mtsa_options, info.num_labels, late_route);
  model->to(o.device);
  FusedAdamW optimizer(model->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));

  TrainState state;
  if (o.resume && fs::exists(paths.state)) {
    state = resume_checkpoint(paths, resumable_checkpoint(paths, args), o.device, model, optimizer);
    if (!o.quiet) std::cerr << "sherl-train: resuming after epoch " << state.epochs_done << "\n";
  } else {
    if (!o.quiet && o.resume && fs::exists(adapter_json_path(o.out_dir)))
      std::cerr << "sherl-train: starting afresh: the adapter in " << o.out_dir
                << " is of a run stopped before its first checkpoint\n";
    fs::remove(paths.log);
  }
  JsonLog log(paths.log);

  AdapterInfo adapter;
  adapter.mtsa = mtsa_options;
  adapter.tiers = info.tiers;
  adapter.late_layers = info.late_layers;
  adapter.task = task;
  adapter.num_outputs = info.num_labels;
  adapter.label_names = info.label_names;
  adapter.backbone = info.backbone;
  adapter.training = args;
  adapter.training["method"] = to_string(o.method);
  adapter.training["tool_version"] = SHERL_VERSION;
  adapter.training["command_line"] = o.command_line;
  adapter.training["feature_dtype"] = to_string(info.dtype);  // sherl-predict rounds raw tiers alike

  const int64_t n = data->size();
  const int64_t steps_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  TrainResult result;
  double train_seconds = 0;
  for (int64_t epoch = state.epochs_done; epoch < o.epochs; ++epoch) {
    auto start = std::chrono::steady_clock::now();
    torch::manual_seed(static_cast<uint64_t>(o.seed) * 1000003ULL + static_cast<uint64_t>(epoch));  // dropout
    model->train();
    std::unique_ptr<BatchStream> batches = data->epoch(epoch_seed(o.seed, epoch), o.batch_size);
    double loss_sum = 0;
    int64_t seen = 0;
    Batch batch;
    while (batches->next(batch)) {
      check_labels(batch, task, info.num_labels, data->name());
      double lr = scheduled_lr(o, state.step, total_steps);
      set_lr(optimizer, lr);
      optimizer.zero_grad();
      double loss_value = 0;
      with_out_of_memory_hint(o.device, o.batch_size, [&] {
        torch::Tensor outputs = model->forward(batch.tiers.to(o.device, true), batch.mask.to(o.device, true));
        torch::Tensor loss = task_loss(task, outputs, batch.labels.to(o.device, true));
        loss_value = loss.item<double>();
        if (!std::isfinite(loss_value)) {
          data->check_finite(batch);  // names the example when the data is to blame
          throw Error("step " + std::to_string(state.step) + " (epoch " + std::to_string(epoch + 1) +
                      "): the loss is not finite (a diverging run: try a lower --lr or --clip-norm); stopped, " +
                      (state.epochs_done > 0 ? "the checkpoint of epoch " + std::to_string(state.epochs_done) +
                                                   " is kept in " + paths.checkpoints
                                             : std::string("no checkpoint was written yet")));
        }
        loss.backward();
        if (o.clip_norm > 0) clip_grad_norm(model->parameters(), o.clip_norm);
        optimizer.step();
      });
      ++state.step;
      loss_sum += loss_value * batch.ids.size(0);
      seen += batch.ids.size(0);
      if (state.step % 20 == 0) log.write({{"step", state.step}, {"loss", loss_value}, {"lr", lr}});
    }
    double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    train_seconds += epoch_seconds;
    ++result.epochs_run;
    double train_loss = loss_sum / std::max<int64_t>(1, seen);

    json val_metrics;
    double score = -train_loss;  // without validation data the last epoch is kept
    const bool validated = data->has_validation();
    if (validated) {
      Outputs out = data->validate(model, std::max<int64_t>(o.batch_size, 128));
      val_metrics = task_metrics(task, out.outputs, out.targets);
      json primary = val_metrics.value(primary_metric(task), json());
      score = primary.is_number() ? primary.get<double>() : -INFINITY;
    }
    state.epochs_done = epoch + 1;
    state.train_loss.push_back(train_loss);
    state.val_metric.push_back(validated ? score : NAN);
    bool improved = !validated || score > state.best;
    if (improved) {
      state.best = score;
      state.best_epoch = epoch + 1;
      state.since_best = 0;
      adapter.metrics = {{"epoch", epoch + 1}, {"train_loss", train_loss}};
      if (validated) adapter.metrics["validation"] = val_metrics;
      save_adapter(o.out_dir, adapter, model->mtsa(), model->head());
    } else {
      ++state.since_best;
    }
    log.write({{"epoch", epoch + 1}, {"step", state.step}, {"loss", train_loss},
               {"lr", scheduled_lr(o, std::max<int64_t>(0, state.step - 1), total_steps)},
               {"validation", val_metrics}, {"examples_per_s", seen / epoch_seconds}, {"seconds", epoch_seconds}});
    state.log_bytes = log.bytes();
    write_checkpoint(paths, model, optimizer, state, args);
    if (!o.quiet) {
      std::fprintf(stderr, "sherl-train: epoch %lld/%lld loss %.4f", static_cast<long long>(epoch + 1),
                   static_cast<long long>(o.epochs), train_loss);
      if (validated) std::fprintf(stderr, " val %s %.4f", primary_metric(task).c_str(), score);
      std::fprintf(stderr, " (%.2f s, %.0f ex/s)%s\n", epoch_seconds, seen / epoch_seconds, improved ? " *" : "");
    }
    if (o.patience > 0 && state.since_best >= o.patience) {
      if (!o.quiet) std::cerr << "sherl-train: no improvement for " << o.patience << " epochs; stopping early\n";
      break;
    }
  }

  std::vector<Series> curve = {{"train loss", state.train_loss, "#d62728"}};
  if (data->has_validation()) curve.push_back({"validation " + primary_metric(task), state.val_metric, "#1f77b4"});
  write_file_atomic(paths.curve, svg_line_chart("sherl-train: " + fs::path(o.out_dir).filename().string(), "epoch", curve));
  result.best_epoch = state.best_epoch;
  result.best_metrics = read_adapter_info(o.out_dir).metrics;
  result.seconds_per_epoch = result.epochs_run ? train_seconds / result.epochs_run : 0;
  result.peak_memory_bytes = peak_device_memory_bytes(o.device);
  json done = {{"done", true}, {"best_epoch", state.best_epoch}, {"peak_rss_bytes", peak_rss_bytes()},
               {"seconds_per_epoch", result.seconds_per_epoch}};
  if (o.device.is_cuda()) done["peak_gpu_bytes"] = result.peak_memory_bytes;
  log.write(done);
  return result;
}

}  // namespace sherl
