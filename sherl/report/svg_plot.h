#pragma once
// Tiny SVG writers for the pictures people look at (training curves, redundancy heatmaps):
// SVG is text, so no plotting dependency is needed.
#include <string>
#include <vector>

namespace sherl {

struct Series {
  std::string name;
  std::vector<double> values;  // one per x = 1..n; NaN = no point
  std::string colour;
};

// A line chart with one y axis per series (left for the first, right for the second).
std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series);

// A square heatmap of values in [0, 1] with row/column labels and the values printed.
std::string svg_heatmap(const std::string& title, const std::vector<std::string>& labels,
                        const std::vector<std::vector<double>>& values);

}  // namespace sherl
