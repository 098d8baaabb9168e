#include "sherl/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace sherl {
namespace {

std::string num(double v, const char* fmt = "%.4g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series) {
  const double W = 640, H = 400, left = 70, right = 70, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(title) << "</text>\n"
    << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#888\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">" << escape(x_label)
    << "</text>\n";
  size_t n = 0;
  for (const auto& se : series) n = std::max(n, se.values.size());
  for (size_t k = 0; k < series.size() && k < 2; ++k) {
    const auto& se = series[k];
    double lo = INFINITY, hi = -INFINITY;
    for (double v : se.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!std::isfinite(lo)) continue;
    if (hi - lo < 1e-12) hi = lo + 1, lo -= 1;
    auto x = [&](size_t i) { return left + (n > 1 ? pw * i / (n - 1) : pw / 2); };
    auto y = [&](double v) { return top + ph * (1 - (v - lo) / (hi - lo)); };
    double axis_x = k == 0 ? left - 6 : left + pw + 6;
    const char* anchor = k == 0 ? "end" : "start";
    for (int t = 0; t <= 4; ++t) {
      double v = lo + (hi - lo) * t / 4;
      s << "<text x=\"" << axis_x << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"" << anchor << "\" fill=\""
        << se.colour << "\">" << num(v) << "</text>\n";
    }
    s << "<text x=\"" << (k == 0 ? left : left + pw) << "\" y=\"" << top - 6 << "\" text-anchor=\""
      << (k == 0 ? "start" : "end") << "\" fill=\"" << se.colour << "\">" << escape(se.name) << "</text>\n";
    s << "<polyline fill=\"none\" stroke=\"" << se.colour << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < se.values.size(); ++i)
      if (std::isfinite(se.values[i])) s << num(x(i), "%.1f") << "," << num(y(se.values[i]), "%.1f") << " ";
    s << "\"/>\n";
  }
  for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 10))
    s << "<text x=\"" << left + (n > 1 ? pw * i / (n - 1) : pw / 2) << "\" y=\"" << top + ph + 16
      << "\" text-anchor=\"middle\">" << i + 1 << "</text>\n";
  s << "</svg>\n";
  return s.str();
}

std::string svg_heatmap(const std::string& title, const std::vector<std::string>& labels,
                        const std::vector<std::vector<double>>& values) {
  const double cell = 56, left = 90, top = 60;
  size_t n = labels.size();
  double W = left + cell * n + 20, H = top + cell * n + 20;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(title) << "</text>\n";
  for (size_t i = 0; i < n; ++i) {
    s << "<text x=\"" << left - 6 << "\" y=\"" << top + cell * i + cell / 2 + 4 << "\" text-anchor=\"end\">"
      << escape(labels[i]) << "</text>\n";
    s << "<text x=\"" << left + cell * i + cell / 2 << "\" y=\"" << top - 8 << "\" text-anchor=\"middle\">"
      << escape(labels[i]) << "</text>\n";
    for (size_t j = 0; j < n; ++j) {
      double v = std::clamp(values[i][j], 0.0, 1.0);
      int shade = static_cast<int>(255 * (1 - v));  // white (0) to dark blue (1)
      s << "<rect x=\"" << left + cell * j << "\" y=\"" << top + cell * i << "\" width=\"" << cell << "\" height=\""
        << cell << "\" fill=\"rgb(" << shade << "," << (shade + 255) / 2 << ",255)\" stroke=\"white\"/>\n";
      s << "<text x=\"" << left + cell * j + cell / 2 << "\" y=\"" << top + cell * i + cell / 2 + 4
        << "\" text-anchor=\"middle\" fill=\"" << (v > 0.6 ? "white" : "black") << "\">" << num(values[i][j], "%.2f")
        << "</text>\n";
    }
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace sherl
