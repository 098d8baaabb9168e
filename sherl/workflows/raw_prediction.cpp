#include "sherl/workflows/raw_prediction.h"

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/shard/stored_values.h"
#include "sherl/method/adapted_model_loading.h"
#include "sherl/report/predictions.h"

namespace sherl {
namespace {

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

// The adapter was trained on tiers rounded to the shards' dtype; rounding here too makes
// predictions on raw input equal those on shards of the same input.
torch::Tensor round_like_training(const torch::Tensor& tiers, const AdapterInfo& info) {
  return round_to_stored(tiers, parse_feature_dtype(info.training.value("feature_dtype", "f32")));
}

}  // namespace

int64_t predict_raw(const PredictOptions& o, std::ostream& out) {
  if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
  // Everything that can be refused is checked before the header is printed.
  LoadedModel loaded = load_adapted_model(o.adapter_dir, o.model_dir, o.device);
  const AdapterInfo& info = loaded.info;
  InputSpec spec = o.input;
  spec.model_dir = o.model_dir;
  spec.tower = tower_of(info.backbone.model_type);  // a CLIPModel's: the adapter's
  spec.unlabeled = o.ignore_labels || !input_has_labels(spec);
  if (spec.unlabeled && o.labels_required)
    throw error_at(display_of(spec), "has no label column '" + spec.label_column + "' (--label-column)");
  if (!spec.unlabeled) {
    // Labels only select rows: those of a class the adapter knows (others are skipped).
    spec.label_kind = info.task;
    if (info.task == LabelKind::Class && !info.label_names.empty()) {
      spec.select_labels = info.label_names;
      spec.require_selected_labels = false;
    }
  }
  InputPlan plan = plan_input(spec);
  if (plan.selected == 0)
    throw error_at(display_of(spec), spec.select_labels.empty()
                                         ? std::string("no example to predict")
                                         : "no example has a label among the adapter's classes (" +
                                               join(info.label_names) + ")");
  auto source = open_source(spec, plan);
  if (o.header) out << prediction_header(false);
  torch::InferenceMode inference;
  int64_t count = 0;
  std::vector<RawExample> batch;
  RawExample example;
  auto flush = [&] {
    ModelInputs inputs = to_device(collate(batch, loaded.backbone->pad_token_id()), o.device);
    torch::Tensor tiers = round_like_training(compute_tiers(*loaded.backbone, inputs, info.tiers), info);
    torch::Tensor mask = loaded.backbone->token_mask(inputs);
    torch::Tensor outputs = loaded.model->forward(tiers, mask).to(torch::kCPU);
    torch::Tensor ids = torch::empty({static_cast<int64_t>(batch.size())}, torch::kInt64);
    for (size_t i = 0; i < batch.size(); ++i) ids[i] = batch[i].id;
    write_prediction_rows(out, info.task, outputs, ids, info.label_names);
    out.flush();
    count += batch.size();
    batch.clear();
  };
  while (source->next(example)) {
    batch.push_back(std::move(example));
    if (static_cast<int64_t>(batch.size()) == o.batch_size) flush();
  }
  if (!batch.empty()) flush();
  return count;
}

}  // namespace sherl
