#include "sherl/raw_prediction.h"


#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/model/backbone.h"
#include "sherl/adapted_model.h"
#include "sherl/adapter_io.h"
#include "sherl/predictions.h"


namespace sherl {
namespace {

// The adapter was trained on tiers rounded to the shards' dtype; rounding here too makes
// predictions on raw input equal those on shards of the same input.
torch::Tensor round_like_training(const torch::Tensor& tiers, const AdapterInfo& info) {
  std::string dtype = info.training.value("feature_dtype", "f32");
  return tiers.to(torch_dtype(parse_feature_dtype(dtype))).to(torch::kFloat32);
}

}  // namespace

int64_t predict_raw(const PredictOptions& o, std::ostream& out) {
  Adapter adapter = load_adapter(o.adapter_dir, o.device);
  const AdapterInfo& info = adapter.info;
  if (backbone_identity(o.model_dir) != info.backbone)
    throw error_at(o.model_dir, "is not the backbone adapter " + o.adapter_dir + " was trained with");
  Backbone backbone = load_backbone(o.model_dir, o.device);
  auto late_route = std::make_shared<LateRoute>(backbone, info.late_layers);
  AdaptedModel model(adapter.mtsa, adapter.head, late_route);
  model->eval();

  InputSpec spec = o.input;
  spec.model_dir = o.model_dir;
  InputPlan plan = plan_input(spec);
  auto source = open_source(spec, plan);
  if (o.header) out << prediction_header(false);
  torch::InferenceMode inference;
  int64_t count = 0;
  std::vector<RawExample> batch;
  RawExample example;
  auto flush = [&] {
    ModelInputs inputs = to_device(collate(batch, backbone->pad_token_id()), o.device);
    torch::Tensor tiers = round_like_training(compute_tiers(*backbone, inputs, info.tiers), info);
    torch::Tensor mask = backbone->token_mask(inputs);
    torch::Tensor outputs = model->forward(tiers, mask).to(torch::kCPU);
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
