#include "sherl/evaluate.h"

#include <algorithm>

#include "lib/core/error.h"
#include "sherl/batch_loader.h"

namespace sherl {

Outputs run_adapted_model(AdaptedModel& model, const ShardSet& data, int64_t batch_size, torch::Device device,
                          const std::vector<int64_t>& tier_positions) {
  torch::NoGradGuard no_grad;
  bool was_training = model->is_training();
  model->eval();
  BatchLoader loader(data, sequential_plan(data), batch_size, 4, device.is_cuda(), tier_positions);
  std::vector<torch::Tensor> outputs, targets, ids;
  Batch batch;
  while (loader.next(batch)) {
    outputs.push_back(model->forward(batch.tiers.to(device, true), batch.mask.to(device, true)).to(torch::kCPU));
    targets.push_back(batch.labels);
    ids.push_back(batch.ids);
  }
  model->train(was_training);
  return {torch::cat(outputs), torch::cat(targets), torch::cat(ids)};
}

Task task_of(LabelKind kind) {
  switch (kind) {
    case LabelKind::Class: return Task::Classify;
    case LabelKind::Regression: return Task::Regress;
    case LabelKind::MultiLabel: return Task::MultiLabel;
  }
  return Task::Classify;
}

std::vector<int64_t> check_compatible(const ShardSet& data, const BackboneIdentity& backbone, const std::vector<int64_t>& tiers,
                      int64_t late_layers, const std::string& what) {
  const ShardSetInfo& info = data.info();
  if (info.backbone != backbone)
    throw error_at(data.dir(), "shards were extracted with another backbone (" + info.backbone.model_type +
                                   ", config " + info.backbone.config_sha256.substr(0, 12) + ", weights " +
                                   info.backbone.weights_sha256.substr(0, 12) + ") than " + what);
  if (info.late_layers != late_layers)
    throw error_at(data.dir(), "shards were cut for " + std::to_string(info.late_layers) + " late layer(s), " + what +
                                   " for " + std::to_string(late_layers));
  auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (auto t : v) s += (s.empty() ? "" : ",") + std::to_string(t);
    return s;
  };
  std::vector<int64_t> positions;
  for (int64_t t : tiers) {
    auto it = std::find(info.tiers.begin(), info.tiers.end(), t);
    if (it == info.tiers.end())
      throw error_at(data.dir(), "shards hold tiers " + list(info.tiers) + " but " + what + " uses tiers " + list(tiers));
    positions.push_back(it - info.tiers.begin());
  }
  if (positions.size() == info.tiers.size()) positions.clear();  // all of them, in order
  return positions;
}

}  // namespace sherl
