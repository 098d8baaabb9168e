#pragma once
// Running an adapted model over a shard set: the outputs for every example, and the task's
// metrics. Shared by sherl-train (validation each epoch) and sherl-eval.
#include <torch/torch.h>

#include "lib/core/json.h"
#include "lib/shard/shard.h"
#include "sherl/adapted_model.h"

namespace sherl {

struct Outputs {
  torch::Tensor outputs;  // [n, num_outputs] float32 on the CPU, in shard-set order
  torch::Tensor targets;  // int64 [n] or float32 [n, L]
  torch::Tensor ids;      // int64 [n]
};

Outputs run_adapted_model(AdaptedModel& model, const ShardSet& data, int64_t batch_size, torch::Device device);

// Task of a shard set's labels.
Task task_of(LabelKind kind);

// Checks that `data` can feed a model made for (backbone, tiers): same backbone, same
// tiers. Throws sherl::Error naming the shard-set directory and what differs.
void check_compatible(const ShardSet& data, const BackboneIdentity& backbone, const std::vector<int64_t>& tiers,
                      int64_t late_layers, const std::string& what);

}  // namespace sherl
