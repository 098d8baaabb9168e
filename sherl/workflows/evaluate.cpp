#include "sherl/workflows/evaluate.h"

#include <algorithm>

#include "lib/core/error.h"

namespace sherl {

std::vector<Outputs> run_adapted_models(const std::vector<AdaptedModel*>& models, BatchStream& batches,
                                        torch::Device device, const std::function<void(const Batch&)>& check,
                                        const std::string& where, const SideBySide& side) {
  std::vector<bool> was_training;
  for (AdaptedModel* m : models) {
    was_training.push_back((*m)->is_training());
    (*m)->eval();
  }
  std::vector<std::vector<torch::Tensor>> outputs(models.size());
  std::vector<torch::Tensor> targets, ids;
  Batch batch;
  while (batches.next(batch)) {
    check(batch);
    const torch::Tensor tiers = batch.tiers.to(device, true), mask = batch.mask.to(device, true);
    side.run(models.size(), [&](size_t i) {
      torch::NoGradGuard no_grad;  // per thread
      outputs[i].push_back((*models[i])->forward(tiers, mask).to(torch::kCPU));
    });
    targets.push_back(batch.labels);
    ids.push_back(batch.ids);
  }
  for (size_t i = 0; i < models.size(); ++i) (*models[i])->train(was_training[i]);
  if (targets.empty()) throw error_at(where, "holds no examples");
  std::vector<Outputs> result;
  for (auto& o : outputs) result.push_back({torch::cat(o), torch::cat(targets), torch::cat(ids)});
  return result;
}

std::vector<Outputs> run_adapted_models(const std::vector<AdaptedModel*>& models, const ShardSet& data,
                                        int64_t batch_size, torch::Device device,
                                        const std::vector<int64_t>& tier_positions, const SideBySide& side) {
  BatchLoader loader(data, sequential_plan(data), batch_size,
                     queue_depth(data, batch_size, static_cast<int64_t>(tier_positions.size())), device.is_cuda(),
                     tier_positions);
  return run_adapted_models(models, loader, device, [&](const Batch& b) { check_finite(data, b); }, data.dir(), side);
}

Outputs run_adapted_model(AdaptedModel& model, const ShardSet& data, int64_t batch_size, torch::Device device,
                          const std::vector<int64_t>& tier_positions) {
  return run_adapted_models({&model}, data, batch_size, device, tier_positions, SideBySide{}).front();
}

std::vector<int64_t> check_compatible(const ShardSet& data, const BackboneIdentity& backbone, const std::vector<int64_t>& tiers,
                      int64_t late_layers, const std::string& what) {
  const ShardSetInfo& info = data.info();
  if (std::string field = first_difference(info.backbone, backbone); !field.empty()) {
    const json ours = to_json(info.backbone), theirs = to_json(backbone);
    auto value = [&](const json& j) { return j.at(field).is_string() ? j.at(field).get<std::string>() : j.at(field).dump(); };
    throw error_at(data.dir(), "shards were extracted with another backbone than " + what + " (" + field + " " +
                                   value(ours) + ", not " + value(theirs) + ")");
  }
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

std::vector<int64_t> class_mapping(const ShardSet& data, const std::vector<std::string>& model_classes,
                                   int64_t model_outputs, const std::string& what) {
  const ShardSetInfo& info = data.info();
  if (info.label_kind == LabelKind::Regression) return {};
  auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
    return s;
  };
  if (!info.label_names.empty()) {
    if (static_cast<int64_t>(info.label_names.size()) != info.num_labels)
      throw error_at(data.dir(), "names " + std::to_string(info.label_names.size()) + " classes (label_names) but records " +
                                     std::to_string(info.num_labels) + " (num_labels)");
    std::vector<std::string> sorted = info.label_names;
    std::sort(sorted.begin(), sorted.end());
    if (auto twin = std::adjacent_find(sorted.begin(), sorted.end()); twin != sorted.end())
      throw error_at(data.dir(), "names two classes '" + *twin + "' (label_names)");
  }
  if (info.label_names.empty() || model_classes.empty()) {
    // Unnamed classes (sets written without names): only the count can be checked.
    if (info.num_labels != model_outputs)
      throw error_at(data.dir(), "holds " + std::to_string(info.num_labels) + " classes, " + what + " " +
                                     std::to_string(model_outputs));
    return {};
  }
  if (info.label_names == model_classes) return {};
  std::vector<int64_t> map;
  for (const auto& name : info.label_names) {
    auto it = std::find(model_classes.begin(), model_classes.end(), name);
    if (it == model_classes.end())
      throw error_at(data.dir(), "class '" + name + "' (of " + list(info.label_names) + ") is not one of the classes " +
                                     list(model_classes) + " of " + what);
    map.push_back(it - model_classes.begin());
  }
  // Multi-hot targets say something of every label: the set must name all of the model's.
  if (info.label_kind == LabelKind::MultiLabel && info.num_labels != model_outputs)
    throw error_at(data.dir(), "labels " + list(info.label_names) + " are not all of " + list(model_classes) + " of " +
                                   what + " (a multi-label set must name every one)");
  return map;
}

void apply_class_mapping(Outputs& out, const std::vector<int64_t>& map, const ShardSet& data) {
  if (data.info().label_kind == LabelKind::MultiLabel) {  // columns in the model's order
    if (!map.empty())
      out.targets = torch::zeros_like(out.targets).index_copy_(1, torch::tensor(map, torch::kInt64), out.targets);
    return;
  }
  if (out.targets.scalar_type() != torch::kInt64) return;  // regression targets
  const int64_t classes = data.info().num_labels;
  auto outside = out.targets.lt(0).logical_or(out.targets.ge(classes)).nonzero();
  if (outside.numel() > 0) {
    int64_t i = outside[0][0].item<int64_t>();
    throw error_at(data.dir(), "example " + std::to_string(out.ids[i].item<int64_t>()) + " has class " +
                                   std::to_string(out.targets[i].item<int64_t>()) + ", outside the set's 0.." +
                                   std::to_string(classes - 1) + " (sherl-info --verify lists what else is wrong)");
  }
  if (map.empty()) return;
  out.targets = torch::tensor(map, torch::kInt64).index_select(0, out.targets.flatten()).view_as(out.targets);
}

}  // namespace sherl
