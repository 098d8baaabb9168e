#pragma once
// What makes a sherl-train run resumable: the arguments that define it (what --resume
// compares) and its checkpoint (checkpoint/state.json, pointing at each point's weights and
// optimizer files of the same epoch).
#include <string>
#include <vector>

#include "lib/core/json.h"
#include "sherl/workflows/grid.h"
#include "sherl/workflows/trainer.h"
#include "sherl/workflows/training_data.h"
#include "sherl/workflows/training_point.h"

namespace sherl {

// The arguments every point of a run shares. The data and the backbone enter by content (the
// manifests' or the input's and the model files' hashes): their paths are recorded, not
// compared.
json shared_arguments(const TrainOptions& o, const TrainingData& data);
// A point's arguments (recorded in its adapter; a one-point run's checkpoint's).
json point_arguments(const json& shared, const GridPoint& p, int64_t data_seed);
// A grid's arguments: the lists it was given.
json grid_arguments(const json& shared, const GridAxes& axes, int64_t data_seed);

// <out_dir>/checkpoint/state.json
std::string checkpoint_state_path(const std::string& out_dir);

// The checkpoint at `path` (read as JSON), refused naming the first argument that differs
// from `args` (more epochs or patience, and paths, may differ), or when it is of a one-point
// run and `grid` is true or the reverse. Cheap: read before the backbone and the data load.
json resumable_checkpoint(const std::string& path, const json& args, bool grid);

// Writes the checkpoint: the files of the points that `advanced` this epoch, then
// state.json (atomically) pointing at every point's, then the files it no longer points at.
// Version 1 holds a one-point run's "state", version 2 a grid's "points" ({name, state})
// and "log_bytes", the length of the grid's own log at the checkpoint.
void write_checkpoint(const std::string& out_dir, const json& args, std::vector<TrainingPoint>& points,
                      const std::vector<TrainingPoint*>& advanced, int64_t grid_log_bytes);

// The states a checkpoint holds, one per point of `grid` in order.
std::vector<TrainState> checkpoint_states(const json& checkpoint, const std::vector<GridPoint>& grid,
                                          const std::string& path);

}  // namespace sherl
