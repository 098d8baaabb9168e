#pragma once
// sherl-eval's work: load an adapter and its backbone, run them over a shard set, and
// return the task's metrics (optionally writing per-example predictions).
#include <torch/torch.h>

#include <string>

#include "lib/core/json.h"

namespace sherl {

json evaluate_adapter(const std::string& adapter_dir, const std::string& model_dir, const std::string& data_dir,
                      const std::string& predictions_path, int64_t batch_size, torch::Device device);

}  // namespace sherl
