#include "sherl/workflows/train_checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/device.h"
#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

// Arguments that may differ on resume: more epochs or patience, and the paths (the
// content behind them is compared through the data's identity).
bool may_differ_on_resume(const std::string& key) {
  return key == "epochs" || key == "patience" || key == "model" || is_data_path_key(key);
}

// Keys that checkpoints written before they existed lack: such a checkpoint still resumes
// (its paths were compared as strings when it was made).
bool predates(const std::string& key) {
  return key == "backbone" || key == "train_manifest_sha256" || key == "val_manifest_sha256";
}

// The option behind an argument's key ("weight_decay": "--weight-decay").
std::string option_name(const std::string& key) {
  if (key == "warmup_steps") return "--warmup";
  if (key == "shuffle_buffer_bytes") return "--shuffle-buffer-mb (in bytes)";
  std::string name = "--" + key;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string resume_difference(const std::string& key, const json& saved, const json& now) {
  if (key == "backbone") return "another backbone (--model's config, weights or preprocessing files differ)";
  if (key == "train_manifest_sha256") return "other training data (the manifest of --train differs)";
  if (key == "val_manifest_sha256") return "other validation data (the manifest of --val differs)";
  if (key == "input_sha256") return "another training input (the content of --input differs)";
  if (key == "labels_sha256") return "other labels (the content of --labels differs)";
  std::string difference = option_name(key) + " " + saved.dump() + ", not " + now.dump();
  // Checkpoints from before warm-up fractions recorded steps (100 by default then).
  if (key == "warmup_fraction" && saved.is_null()) difference += " (it was made with a --warmup in steps: give it)";
  return difference;
}

}  // namespace

json shared_arguments(const TrainOptions& o, const TrainingData& data) {
  json args = {{"model", o.model_dir}, {"task", o.task}, {"output", to_string(o.output)}, {"epochs", o.epochs},
               {"batch_size", o.batch_size}, {"schedule", to_string(o.schedule)},
               {"clip_norm", o.clip_norm}, {"patience", o.patience}};
  // As given: the steps of a fraction depend on the data's size, known only once loaded.
  if (o.warmup_steps)
    args["warmup_steps"] = *o.warmup_steps;
  else
    args["warmup_fraction"] = o.warmup_fraction;
  if (!o.online) args["shuffle_buffer_bytes"] = o.shuffle_buffer_bytes;  // no effect online
  // Only when not f32, so that checkpoints from before --precision still resume.
  if (o.precision != torch::kFloat32) args["precision"] = precision_name(o.precision);
  args.update(data.identity());
  return args;
}

json point_arguments(const json& shared, const GridPoint& p, int64_t data_seed) {
  json args = shared;
  args.update({{"method", to_string(p.method)}, {"projection", to_string(p.projection)},
               {"downsample_factor", p.downsample_factor}, {"lr", p.lr}, {"weight_decay", p.weight_decay},
               {"seed", p.seed}});
  // Only where it is not the point's own seed: checkpoints from before grids still resume.
  if (data_seed != p.seed) args["data_seed"] = data_seed;
  if (!p.name.empty()) args["grid_point"] = p.name;
  return args;
}

json grid_arguments(const json& shared, const GridAxes& axes, int64_t data_seed) {
  json args = shared;
  std::vector<std::string> methods, projections;
  for (Method m : axes.method) methods.push_back(to_string(m));
  for (ProjectionKind k : axes.projection) projections.push_back(to_string(k));
  args.update({{"method", methods}, {"projection", projections}, {"downsample_factor", axes.downsample_factor},
               {"lr", axes.lr}, {"weight_decay", axes.weight_decay}, {"seed", axes.seed}, {"data_seed", data_seed}});
  return args;
}

std::string checkpoint_state_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "checkpoint" / "state.json").string();
}

json resumable_checkpoint(const std::string& path, const json& args, bool grid) {
  json state = read_json_file(path);
  if (state.value("format", "") != "sherl-train-checkpoint" || state.value("version", 0) < 1 ||
      state.value("version", 0) > 2)
    throw error_at(path, "not a sherl-train checkpoint of a version this tool reads");
  if ((state.value("version", 0) == 2) != grid)
    throw error_at(path, grid ? "the checkpoint is of a one-point run, not of this grid (with validation data --lr "
                                "now defaults to a grid: give the run's --lr; --resume needs the same "
                                "arguments and data)"
                              : "the checkpoint is of a grid, not of this one-point run (--resume needs the same "
                                "arguments and data)");
  json saved = state.at("arguments");
  json keys = saved;
  keys.update(args);  // every argument of either run: one may lack what the other has
  for (auto& [key, ignored] : keys.items())
    if (!may_differ_on_resume(key) && !(predates(key) && !saved.contains(key)) &&
        saved.value(key, json()) != args.value(key, json()))
      throw error_at(path, "the checkpoint was made with " +
                                  resume_difference(key, saved.value(key, json()), args.value(key, json())) +
                                  "; --resume needs the same arguments and data");
  return state;
}

void write_checkpoint(const std::string& out_dir, const json& args, std::vector<TrainingPoint>& points,
                      const std::vector<TrainingPoint*>& advanced, int64_t grid_log_bytes) {
  for (TrainingPoint* p : advanced) p->write_checkpoint_files();
  json state = {{"format", "sherl-train-checkpoint"}, {"arguments", args}};
  if (points.size() == 1) {
    state.update({{"version", 1}, {"state", to_json(points[0].state())}});
  } else {
    json list = json::array();
    for (TrainingPoint& p : points) list.push_back({{"name", p.settings().name}, {"state", to_json(p.state())}});
    state.update({{"version", 2}, {"points", list}, {"log_bytes", grid_log_bytes}});
  }
  write_file_atomic(checkpoint_state_path(out_dir), state.dump(2) + "\n");
  for (TrainingPoint* p : advanced) p->remove_previous_checkpoint_files();
}

std::vector<TrainState> checkpoint_states(const json& checkpoint, const std::vector<GridPoint>& grid,
                                          const std::string& path) {
  if (checkpoint.at("version") == 1) return {state_from_json(checkpoint.at("state"))};
  std::vector<TrainState> states;
  const json& saved = checkpoint.at("points");
  for (size_t i = 0; i < grid.size(); ++i) {
    if (i >= saved.size() || saved[i].at("name") != grid[i].name)
      throw error_at(path, "the checkpoint's points are not this grid's (--resume needs the same arguments)");
    states.push_back(state_from_json(saved[i].at("state")));
  }
  return states;
}

}  // namespace sherl
