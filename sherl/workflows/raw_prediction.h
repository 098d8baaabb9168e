#pragma once
// sherl-predict's work: the whole adapted model on raw inputs (frozen early layers, MTSA,
// late layers, head), one prediction row per example (sherl/report/predictions.h).
#include <torch/torch.h>

#include <ostream>
#include <string>

#include "lib/input/source.h"

namespace sherl {

struct PredictOptions {
  std::string adapter_dir, model_dir;
  InputSpec input;
  int64_t batch_size = 64;
  torch::Device device = torch::kCPU;
  bool header = true;
  bool labels_required = false;  // --label-column given: an input without it is an error
  bool ignore_labels = false;    // --no-labels: the input is read as unlabeled
};

// Writes rows to `out` as batches complete (so that a pipeline sees them early). Returns the
// number of examples.
int64_t predict_raw(const PredictOptions& options, std::ostream& out);

}  // namespace sherl
