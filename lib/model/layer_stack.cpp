#include "lib/model/layer_stack.h"

namespace sherl {

LayerStackBackboneImpl::LayerStackBackboneImpl() {
  layers_ = register_module("layers", torch::nn::ModuleList());
}

void LayerStackBackboneImpl::add_layers(int64_t n, const EncoderLayerOptions& options) {
  options_ = options;
  if (options_.num_kv_heads <= 0) options_.num_kv_heads = options_.num_heads;
  for (int64_t i = 0; i < n; ++i) layers_->push_back(EncoderLayer(options));
}

EncoderLayerImpl& LayerStackBackboneImpl::at(int64_t i) {
  check_layer_index(model_type(), i, num_layers());
  return *layers_->ptr<EncoderLayerImpl>(i);
}

void LayerStackBackboneImpl::load_layer(int64_t i, const Checkpoint& checkpoint, const std::string& prefix,
                                        const EncoderLayerNames& names) {
  at(i).load(checkpoint, prefix, names);
}

torch::Tensor LayerStackBackboneImpl::layer(int64_t i, const torch::Tensor& hidden, const LayerState& state,
                                            const OutputRows& rows) {
  return at(i).forward(hidden, state, rows);
}

std::vector<torch::Tensor> LayerStackBackboneImpl::layer_parameters(int64_t i) { return at(i).parameters(); }

}  // namespace sherl
