#pragma once
// Evaluation metrics of the three tasks, returned as JSON objects for reports and
// adapter.json. Inputs are tensors on any device (copied to the CPU in float64/int64).
// A metric that is undefined for the data (e.g. Pearson of a constant vector) is JSON null.
#include "lib/core/json.h"
#include "lib/core/types.h"  // Task

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sherl {

// predicted, target: int64 class indices [n], each in [0, num_classes).
// {"accuracy", "macro_f1", "mcc", "confusion_matrix", "examples"}
//  macro_f1: mean F1 over the classes that occur in target or predicted (as sklearn);
//  mcc: multi-class Matthews correlation (Gorodkin's R_K, as sklearn; 0 when undefined);
//  confusion_matrix[true][predicted], num_classes x num_classes.
json classification_metrics(const torch::Tensor& predicted, const torch::Tensor& target,
                            int64_t num_classes);

// predicted, target: [n] or [n, k]; all values are pooled (flattened) together.
// {"pearson", "spearman", "mse", "examples"}; spearman uses average ranks for ties.
json regression_metrics(const torch::Tensor& predicted, const torch::Tensor& target);

// predicted, target: 0/1 [n, k].
// {"micro_f1", "exact_match", "examples"}; micro_f1 = 2TP / (2TP + FP + FN) over all cells
// (0 when there are no positives at all, predicted or true).
json multilabel_metrics(const torch::Tensor& predicted, const torch::Tensor& target);

// The metrics of a task from raw head outputs [n, num_outputs] (see predict() in head.h)
// and targets as task_loss() takes them.
json task_metrics(Task task, const torch::Tensor& outputs, const torch::Tensor& targets);

// The metric that summarises a task (higher is better): accuracy, pearson, micro_f1.
std::string primary_metric(Task task);

// Building blocks, exposed for tests.
double pearson(const std::vector<double>& x, const std::vector<double>& y);   // NaN if undefined
double spearman(const std::vector<double>& x, const std::vector<double>& y);  // NaN if undefined
std::vector<double> average_ranks(const std::vector<double>& values);         // 1-based
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int64_t>& predicted,
                                                   const std::vector<int64_t>& target,
                                                   int64_t num_classes);
double matthews_corrcoef(const std::vector<std::vector<int64_t>>& confusion);

}  // namespace sherl
