#include "sherl/report/metrics.h"

#include "lib/core/error.h"
#include "sherl/method/head.h"  // predict()

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace sherl {
namespace {

std::vector<double> to_doubles(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kDouble).contiguous().reshape({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<int64_t> to_ints(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kLong).contiguous().reshape({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// JSON has no NaN: undefined metrics are null.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

void check_same_shape(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  if (a.sizes() != b.sizes())
    throw Error(std::string(what) + ": predictions and targets differ in shape");
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& predicted,
                                                   const std::vector<int64_t>& target,
                                                   int64_t num_classes) {
  if (predicted.size() != target.size())
    throw Error("confusion matrix: predictions and targets differ in length");
  std::vector<std::vector<int64_t>> m(num_classes, std::vector<int64_t>(num_classes, 0));
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] < 0 || target[i] >= num_classes || predicted[i] < 0 || predicted[i] >= num_classes)
      throw Error("confusion matrix: class index out of range [0, " + std::to_string(num_classes) +
                  ") at example " + std::to_string(i));
    ++m[target[i]][predicted[i]];
  }
  return m;
}

double matthews_corrcoef(const std::vector<std::vector<int64_t>>& m) {
  // Gorodkin (2004): (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)),
  // c = correct, s = total, t_k / p_k = true / predicted count of class k.
  const size_t k = m.size();
  double c = 0, s = 0, pt = 0, pp = 0, tt = 0;
  for (size_t i = 0; i < k; ++i) {
    double t_i = 0, p_i = 0;
    for (size_t j = 0; j < k; ++j) {
      t_i += static_cast<double>(m[i][j]);
      p_i += static_cast<double>(m[j][i]);
    }
    c += static_cast<double>(m[i][i]);
    s += t_i;
    pt += p_i * t_i;
    pp += p_i * p_i;
    tt += t_i * t_i;
  }
  double denominator = std::sqrt((s * s - pp) * (s * s - tt));
  return denominator == 0.0 ? 0.0 : (c * s - pt) / denominator;  // sklearn: 0 when undefined
}

json classification_metrics(const torch::Tensor& predicted, const torch::Tensor& target,
                            int64_t num_classes) {
  check_same_shape(predicted, target, "classification metrics");
  std::vector<int64_t> p = to_ints(predicted), t = to_ints(target);
  auto m = confusion_matrix(p, t, num_classes);
  int64_t correct = 0;
  double f1_sum = 0;
  int64_t f1_classes = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    correct += m[c][c];
    int64_t true_count = 0, predicted_count = 0;
    for (int64_t j = 0; j < num_classes; ++j) {
      true_count += m[c][j];
      predicted_count += m[j][c];
    }
    if (true_count + predicted_count == 0) continue;  // absent class: not averaged (sklearn)
    f1_sum += 2.0 * m[c][c] / static_cast<double>(true_count + predicted_count);
    ++f1_classes;
  }
  const double n = static_cast<double>(t.size());
  json out;
  out["examples"] = t.size();
  out["accuracy"] = number_or_null(t.empty() ? NAN : correct / n);
  out["macro_f1"] = number_or_null(f1_classes == 0 ? NAN : f1_sum / f1_classes);
  out["mcc"] = matthews_corrcoef(m);
  out["confusion_matrix"] = m;
  return out;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw Error("pearson: vectors differ in length");
  if (x.size() < 2) return NAN;
  const double mx = mean(x), my = mean(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0.0 || syy == 0.0) return NAN;
  return sxy / std::sqrt(sxx * syy);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;  // tie: mean
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(average_ranks(x), average_ranks(y));
}

json regression_metrics(const torch::Tensor& predicted, const torch::Tensor& target) {
  check_same_shape(predicted, target, "regression metrics");
  std::vector<double> p = to_doubles(predicted), t = to_doubles(target);
  double se = 0;
  for (size_t i = 0; i < p.size(); ++i) se += (p[i] - t[i]) * (p[i] - t[i]);
  json out;
  out["examples"] = predicted.dim() == 0 ? 1 : predicted.size(0);
  out["pearson"] = number_or_null(pearson(p, t));
  out["spearman"] = number_or_null(spearman(p, t));
  out["mse"] = number_or_null(p.empty() ? NAN : se / static_cast<double>(p.size()));
  return out;
}

json multilabel_metrics(const torch::Tensor& predicted, const torch::Tensor& target) {
  check_same_shape(predicted, target, "multilabel metrics");
  if (predicted.dim() != 2) throw Error("multilabel metrics: expected [examples, labels]");
  torch::Tensor p = predicted.detach().to(torch::kCPU).ne(0), t = target.detach().to(torch::kCPU).ne(0);
  const double tp = (p & t).sum().item<double>();
  const double fp = (p & t.logical_not()).sum().item<double>();
  const double fn = (p.logical_not() & t).sum().item<double>();
  const int64_t n = p.size(0);
  json out;
  out["examples"] = n;
  out["micro_f1"] = tp + fp + fn == 0 ? 0.0 : 2 * tp / (2 * tp + fp + fn);
  out["exact_match"] =
      number_or_null(n == 0 ? NAN : p.eq(t).all(1).sum().item<double>() / static_cast<double>(n));
  return out;
}

json task_metrics(Task task, const torch::Tensor& outputs, const torch::Tensor& targets) {
  torch::Tensor predicted = predict(task, outputs);
  switch (task) {
    case LabelKind::Class:
      return classification_metrics(predicted, targets, outputs.size(-1));
    case LabelKind::Regression:
      return regression_metrics(predicted, targets.reshape(predicted.sizes()));
    case LabelKind::MultiLabel:
      return multilabel_metrics(predicted, targets);
  }
  throw Error("metrics: unknown task");
}

std::string primary_metric(Task task) {
  switch (task) {
    case LabelKind::Class: return "accuracy";
    case LabelKind::Regression: return "pearson";
    case LabelKind::MultiLabel: return "micro_f1";
  }
  return "?";
}

}  // namespace sherl
