#include "lib/input/label_selection.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "lib/core/error.h"

namespace sherl {
namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

bool parse_integer(const std::string& s, long long& value) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return false;
  value = std::stoll(s);
  return true;
}

}  // namespace

std::vector<std::string> parse_labels(const std::string& raw, LabelKind kind, const std::string& where) {
  if (kind == LabelKind::MultiLabel) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= raw.size()) {
      size_t comma = raw.find(',', start);
      std::string item = trim(raw.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  std::string label = trim(raw);
  if (label.empty()) throw error_at(where, "empty label");
  if (kind == LabelKind::Regression) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(label.c_str(), &end);
    if (*end != '\0' || errno == ERANGE || !std::isfinite(v))
      throw error_at(where, "label '" + label + "' is not a number (regression)");
  }
  return {label};
}

RowSelector::RowSelector(const InputSpec& spec)
    : kind_(spec.label_kind),
      unlabeled_(spec.unlabeled),
      selected_(spec.select_labels.begin(), spec.select_labels.end()),
      per_label_(spec.per_label),
      limit_(spec.limit) {
  if (kind_ == LabelKind::Regression && !selected_.empty())
    throw Error("--select-labels needs class or multi-label labels, not regression targets");
  if (kind_ != LabelKind::Class && per_label_ >= 0)
    throw Error(std::string("--per-label needs class labels, not ") +
                (kind_ == LabelKind::Regression ? "regression targets" : "multi-label rows"));
  if (selected_.size() != spec.select_labels.size()) throw Error("--select-labels lists a label twice");
  if (selected_.count("")) throw Error("--select-labels lists an empty label");
}

bool RowSelector::keep(const std::vector<std::string>& labels) {
  if (limit_ >= 0 && kept_ >= limit_) return false;
  if (unlabeled_) return ++kept_, true;
  if (!selected_.empty()) {
    bool any = std::any_of(labels.begin(), labels.end(), [&](const std::string& l) { return selected_.count(l) > 0; });
    if (!any) return false;
  }
  if (per_label_ >= 0) {
    int64_t& n = per_label_counts_[labels.at(0)];
    if (n >= per_label_) return false;
    ++n;
  }
  ++kept_;
  return true;
}

std::vector<std::string> label_names_for(const InputSpec& spec, const std::set<std::string>& found,
                                         const std::string& display) {
  if (spec.label_kind == LabelKind::Regression || spec.unlabeled) return {};
  if (!spec.select_labels.empty()) {
    for (const auto& l : spec.select_labels)
      if (!found.count(l) && spec.require_selected_labels)
        throw error_at(display, "selected label '" + l + "' never occurs");
    return spec.select_labels;
  }
  std::vector<std::string> names(found.begin(), found.end());  // std::set: already sorted as strings
  std::vector<long long> values(names.size());
  bool all_integers = true;
  for (size_t i = 0; i < names.size() && all_integers; ++i) all_integers = parse_integer(names[i], values[i]);
  if (all_integers) {
    std::vector<size_t> order(names.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    std::vector<std::string> sorted;
    for (size_t i : order) sorted.push_back(names[i]);
    names = sorted;
  }
  return names;
}

RowFilter::RowFilter(const InputSpec& spec, const InputPlan& plan, std::string display)
    : plan_(plan), unlabeled_(spec.unlabeled), display_(std::move(display)), selector_(spec) {
  for (size_t c = 0; c < plan.label_names.size(); ++c) class_of_[plan.label_names[c]] = int64_t(c);
}

bool RowFilter::admit(const std::string& raw, const std::string& where, torch::Tensor& label) {
  if (unlabeled_) {
    if (!selector_.keep({})) return false;
    label = torch::Tensor();
    ++admitted_;
    return true;
  }
  std::vector<std::string> labels = parse_labels(raw, plan_.label_kind, where);
  if (!selector_.keep(labels)) return false;
  switch (plan_.label_kind) {
    case LabelKind::Class: {
      auto it = class_of_.find(labels[0]);
      if (it == class_of_.end())
        throw error_at(where, "label '" + labels[0] + "' was not seen when the input was planned (did the input change?)");
      label = torch::tensor(it->second, torch::kInt64);
      break;
    }
    case LabelKind::Regression:
      label = torch::tensor({float(std::strtod(labels[0].c_str(), nullptr))}, torch::kFloat32);
      break;
    case LabelKind::MultiLabel: {
      label = torch::zeros({plan_.num_labels}, torch::kFloat32);
      for (const auto& l : labels) {
        auto it = class_of_.find(l);
        if (it != class_of_.end()) label[it->second] = 1.0f;
      }
      break;
    }
  }
  ++admitted_;
  return true;
}

void RowFilter::finish() const {
  if (admitted_ != plan_.selected)
    throw error_at(display_, "yielded " + std::to_string(admitted_) + " examples but planning found " +
                                 std::to_string(plan_.selected) + " (did the input change?)");
}

}  // namespace sherl
