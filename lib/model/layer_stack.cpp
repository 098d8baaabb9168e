#include "lib/model/layer_stack.h"

#include "lib/core/error.h"

namespace sherl {

LayerStackBackboneImpl::LayerStackBackboneImpl(BackboneScope scope) : scope_(scope) {
  layers_ = register_module("layers", torch::nn::ModuleList());
}

void LayerStackBackboneImpl::add_layers(int64_t n, const EncoderLayerOptions& options) {
  options_ = options;
  if (options_.num_kv_heads <= 0) options_.num_kv_heads = options_.num_heads;
  if (scope_.late_layers_only < 0 || scope_.late_layers_only > n)
    throw Error(model_type() + " backbone: " + std::to_string(scope_.late_layers_only) +
                " late layers asked for, of its " + std::to_string(n));
  const int64_t first = scope_.whole() ? 0 : n - scope_.late_layers_only;
  for (int64_t i = 0; i < n; ++i) {
    if (i < first) layers_->push_back(torch::nn::Identity());  // not built: keeps the indices
    else layers_->push_back(built_layer(options));
  }
}

EncoderLayer LayerStackBackboneImpl::built_layer(const EncoderLayerOptions& options) const {
  EncoderLayer layer(options);
  if (scope_.dtype != torch::kFloat32) layer->to(scope_.dtype);  // before the next one is built
  return layer;
}

EncoderLayerImpl& LayerStackBackboneImpl::at(int64_t i) {
  check_layer_index(model_type(), i, num_layers());
  auto layer = layers_->ptr<EncoderLayerImpl>(static_cast<size_t>(i));
  if (!layer)
    throw Error(model_type() + " backbone: layer " + std::to_string(i) + " was not loaded (only the last " +
                std::to_string(scope_.late_layers_only) + ", for the late route)");
  return *layer;
}

void LayerStackBackboneImpl::load_layer(int64_t i, const Checkpoint& checkpoint, const std::string& prefix,
                                        const EncoderLayerNames& names) {
  if (layers_->ptr<EncoderLayerImpl>(static_cast<size_t>(i))) at(i).load(checkpoint, prefix, names);
}

void LayerStackBackboneImpl::require_embeddings() const {
  if (!builds_embeddings())
    throw Error(model_type() + " backbone: the embedding stage was not loaded (only the last " +
                std::to_string(scope_.late_layers_only) + " layers, for the late route)");
}

torch::Tensor LayerStackBackboneImpl::layer(int64_t i, const torch::Tensor& hidden, const LayerState& state,
                                            const OutputRows& rows) {
  return at(i).forward(hidden, state, rows);
}

std::vector<torch::Tensor> LayerStackBackboneImpl::layer_parameters(int64_t i) { return at(i).parameters(); }

}  // namespace sherl
