#pragma once
// A training grid: sherl-train takes lists for the settings worth sweeping and trains every
// combination of them (a "point") in one process, over one shared pass of the data per
// epoch (sherl/workflows/trainer.h). Here: the points, their names, the selection of the
// best one and the summary table.
#include <cstdint>
#include <string>
#include <vector>

#include "sherl/method/adapter_io.h"  // Method
#include "sherl/method/mtsa.h"        // ProjectionKind

namespace sherl {

// The values of each setting that the grid takes (one value each: one run, as before grids).
struct GridAxes {
  std::vector<Method> method{Method::Sherl};
  std::vector<ProjectionKind> projection{ProjectionKind::LinearLn};
  std::vector<int64_t> downsample_factor{2};
  std::vector<double> weight_decay{0.01};
  // Empty: the default, kDefaultLrGrid with validation data, else kDefaultLr alone.
  std::vector<double> lr;
  std::vector<int64_t> seed{0};  // of the point's initialisation and dropout
};

// The learning rates tried when none is given and validation data picks among them, and the
// one used without validation data (bench/README.md has the measurements behind them).
inline const std::vector<double> kDefaultLrGrid{2e-3, 4e-3, 8e-3};
inline constexpr double kDefaultLr = 2e-3;

struct GridPoint {
  Method method = Method::Sherl;
  ProjectionKind projection = ProjectionKind::LinearLn;
  int64_t downsample_factor = 2;
  double weight_decay = 0.01;
  double lr = 2e-3;
  int64_t seed = 0;
  // The values of the axes that vary, e.g. "lr0.001_seed2" (empty in a one-point grid): the
  // point's directory under the run's points/.
  std::string name;
};

// The points in a fixed order (the axes in GridAxes's order, the last varying fastest). A
// linear probe has no MTSA: its points ignore projection and downsample_factor (one point
// for all their values). Throws sherl::Error naming the option when an axis is empty or
// names a value twice.
std::vector<GridPoint> expand_grid(const GridAxes& axes);

// The shortest decimal form of `value` that reads back as the same double ("0.002", "1e-05").
std::string shortest_decimal(double value);

// What a point reached, for selection and the summary.
struct PointOutcome {
  int64_t epochs_done = 0;
  int64_t best_epoch = 0;
  double best_validation = 0;    // the primary metric at best_epoch (NaN without validation)
  double last_train_loss = 0;
  double seconds_per_epoch = 0;  // the point's own steps, per epoch
  bool diverged = false;         // stopped by a loss that was not finite
};

// The point to use: the best validation metric (the first of equals), or without validation
// the lowest training loss of the last epoch. A point that diverged keeps its adapter of its
// best epoch before that, and competes with it.
size_t select_point(const std::vector<PointOutcome>& outcomes, bool validated);

// Writes summary.tsv and summary.md into `dir` (atomically): one row per point with its
// settings, best epoch, validation metric, seconds per epoch, the process's peak memory
// (shared by the points) and whether it diverged, the selected one marked.
void write_grid_summary(const std::string& dir, const std::vector<GridPoint>& points,
                        const std::vector<PointOutcome>& outcomes, size_t selected, const std::string& metric,
                        double peak_memory_mib);

}  // namespace sherl
