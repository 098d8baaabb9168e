#pragma once
// One line per example of a model's predictions, shared by sherl-eval --predictions and
// sherl-predict so that the two agree byte for byte: TSV "id, predicted, scores", where
// predicted is the class name (classify), the value (regress) or the ','-joined positive
// labels (multilabel), and scores are the softmax probabilities (classify), raw outputs
// (regress) or sigmoid probabilities (multilabel), ','-joined with 6 decimals.
#include <torch/torch.h>

#include <ostream>
#include <string>
#include <vector>

#include "lib/core/types.h"  // Task

namespace sherl {

std::string prediction_header(bool with_target);
// outputs: [n, C] on the CPU; targets: optional (eval adds the true label as a last column).
void write_prediction_rows(std::ostream& out, Task task, const torch::Tensor& outputs, const torch::Tensor& ids,
                           const std::vector<std::string>& label_names, const torch::Tensor& targets = {});

}  // namespace sherl
