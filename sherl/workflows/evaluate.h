#pragma once
// Running an adapted model over a shard set: the outputs for every example, and the task's
// metrics. Shared by sherl-train (validation each epoch) and sherl-eval.
#include <torch/torch.h>

#include <functional>

#include "lib/core/json.h"
#include "lib/core/runtime.h"
#include "lib/shard/shard.h"
#include "sherl/method/adapted_model.h"
#include "sherl/workflows/batch_loader.h"

namespace sherl {

struct Outputs {
  torch::Tensor outputs;  // [n, num_outputs] float32 on the CPU, in shard-set order
  torch::Tensor targets;  // int64 [n] or float32 [n, L]
  torch::Tensor ids;      // int64 [n]
};

// tier_positions: which of the stored tiers feed the model (see check_compatible); empty = all.
Outputs run_adapted_model(AdaptedModel& model, const ShardSet& data, int64_t batch_size, torch::Device device,
                          const std::vector<int64_t>& tier_positions = {});
// Several models over one pass of any stream of batches (each read once), side by side; each
// batch is checked by `check` (which throws naming the example) before it is used; `where`
// names the data when the stream holds no batch.
std::vector<Outputs> run_adapted_models(const std::vector<AdaptedModel*>& models, BatchStream& batches,
                                        torch::Device device, const std::function<void(const Batch&)>& check,
                                        const std::string& where, const SideBySide& side);
std::vector<Outputs> run_adapted_models(const std::vector<AdaptedModel*>& models, const ShardSet& data,
                                        int64_t batch_size, torch::Device device,
                                        const std::vector<int64_t>& tier_positions, const SideBySide& side);

// Checks that `data` can feed a model made for (backbone, tiers): same backbone and late
// layers, and every tier the model uses stored (a shard set may hold more tiers than a
// consolidated adapter uses). Returns the positions of the model's tiers among the stored
// ones. Throws sherl::Error naming the shard-set directory and what differs.
std::vector<int64_t> check_compatible(const ShardSet& data, const BackboneIdentity& backbone, const std::vector<int64_t>& tiers,
                      int64_t late_layers, const std::string& what);

// How the classes (or multi-label labels) of `data` map onto a model's, by name: empty when
// they are the same in the same order, else map[c] = the model's index of the data's class c.
// Throws sherl::Error naming the directory and the class when one of the data's classes is
// not the model's, or a multi-label set lacks one of the model's labels ("what" names the
// model, e.g. "adapter runs/a"). Regression: empty.
std::vector<int64_t> class_mapping(const ShardSet& data, const std::vector<std::string>& model_classes,
                                   int64_t model_outputs, const std::string& what);
// Rewrites class targets through a class_mapping() (nothing for an empty one), after
// checking that each is one of `data`'s classes (throws naming the set and the example);
// multi-label targets get their columns in the model's order.
void apply_class_mapping(Outputs& out, const std::vector<int64_t>& map, const ShardSet& data);

}  // namespace sherl
