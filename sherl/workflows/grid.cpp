#include "sherl/workflows/grid.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace sherl {
namespace {

template <typename T, typename Name>
void check_axis(const std::vector<T>& values, const std::string& option, Name name) {
  if (values.empty()) throw Error(option + " needs at least one value");
  std::set<std::string> seen;
  for (const T& v : values)
    if (!seen.insert(name(v)).second) throw Error(option + " names " + name(v) + " twice");
}

std::string integer_name(int64_t v) { return std::to_string(v); }

// The name's part for one setting: its value, prefixed by what it is unless the value says it.
void add_part(std::string& name, bool varies, const std::string& part) {
  if (!varies) return;
  name += (name.empty() ? "" : "_") + part;
}

}  // namespace

std::string shortest_decimal(double value) {
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::vector<GridPoint> expand_grid(const GridAxes& a) {
  check_axis(a.method, "--method", [](Method m) { return to_string(m); });
  check_axis(a.projection, "--projection", [](ProjectionKind k) { return to_string(k); });
  check_axis(a.downsample_factor, "--downsample-factor", integer_name);
  check_axis(a.weight_decay, "--weight-decay", shortest_decimal);
  check_axis(a.lr, "--lr", shortest_decimal);
  check_axis(a.seed, "--seed", integer_name);
  std::vector<GridPoint> points;
  for (Method method : a.method)
    for (size_t p = 0; p < a.projection.size(); ++p)
      for (size_t f = 0; f < a.downsample_factor.size(); ++f) {
        const bool probe = method == Method::Linear;
        if (probe && (p > 0 || f > 0)) continue;  // the probe has no MTSA to vary
        for (double weight_decay : a.weight_decay)
          for (double lr : a.lr)
            for (int64_t seed : a.seed) {
              GridPoint point{method, a.projection[p], a.downsample_factor[f], weight_decay, lr, seed, ""};
              add_part(point.name, a.method.size() > 1, to_string(method));
              add_part(point.name, !probe && a.projection.size() > 1, to_string(point.projection));
              add_part(point.name, !probe && a.downsample_factor.size() > 1, "f" + integer_name(point.downsample_factor));
              add_part(point.name, a.weight_decay.size() > 1, "wd" + shortest_decimal(weight_decay));
              add_part(point.name, a.lr.size() > 1, "lr" + shortest_decimal(lr));
              add_part(point.name, a.seed.size() > 1, "seed" + integer_name(seed));
              points.push_back(point);
            }
      }
  if (points.size() == 1) points[0].name.clear();
  return points;
}

size_t select_point(const std::vector<PointOutcome>& outcomes, bool validated) {
  size_t best = 0;
  for (size_t i = 1; i < outcomes.size(); ++i) {
    const PointOutcome &a = outcomes[i], &b = outcomes[best];
    if (validated ? a.best_validation > b.best_validation || (std::isnan(b.best_validation) && !std::isnan(a.best_validation))
                  : a.last_train_loss < b.last_train_loss)
      best = i;
  }
  return best;
}

void write_grid_summary(const std::string& dir, const std::vector<GridPoint>& points,
                        const std::vector<PointOutcome>& outcomes, size_t selected, const std::string& metric,
                        double peak_memory_mib) {
  const std::vector<std::string> header = {"point", "method", "projection", "downsample_factor", "weight_decay", "lr",
                                           "seed", "epochs", "best_epoch", "val_" + metric, "s_per_epoch",
                                           "peak_rss_mib", "diverged", "selected"};
  std::ostringstream tsv, md;
  auto row = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      tsv << (i ? "\t" : "") << cells[i];
      md << "| " << cells[i] << " ";
    }
    tsv << "\n";
    md << "|\n";
  };
  row(header);
  for (size_t i = 0; i < header.size(); ++i) md << "|---";
  md << "|\n";
  char number[32];
  for (size_t i = 0; i < points.size(); ++i) {
    const GridPoint& p = points[i];
    const PointOutcome& o = outcomes[i];
    const bool probe = p.method == Method::Linear;
    std::snprintf(number, sizeof number, "%.4f", o.best_validation);
    std::string validation = std::isnan(o.best_validation) ? "" : number;
    std::snprintf(number, sizeof number, "%.3f", o.seconds_per_epoch);
    std::string seconds = number;
    std::snprintf(number, sizeof number, "%.0f", peak_memory_mib);
    row({p.name, to_string(p.method), probe ? "" : to_string(p.projection),
         probe ? "" : std::to_string(p.downsample_factor), shortest_decimal(p.weight_decay), shortest_decimal(p.lr),
         std::to_string(p.seed), std::to_string(o.epochs_done), std::to_string(o.best_epoch), validation, seconds, number,
         o.diverged ? "yes" : "", i == selected ? "yes" : ""});
  }
  write_file_atomic((std::filesystem::path(dir) / "summary.tsv").string(), tsv.str());
  write_file_atomic((std::filesystem::path(dir) / "summary.md").string(), md.str());
}

}  // namespace sherl
