// What every backbone family shares through BackboneImpl: the layer state built from the
// mask, the rows a pooling kind reads, and the pooling itself.
#include <algorithm>

#include "lib/core/error.h"
#include "lib/model/backbone.h"
#include "lib/model/checkpoint.h"
#include "lib/model/encoder_layer.h"
#include "lib/model/text_inputs.h"

namespace sherl {

torch::Tensor BackboneImpl::token_mask(const ModelInputs& inputs) { return text_token_mask(model_type(), inputs); }

LayerState BackboneImpl::layer_state(const torch::Tensor& mask, const torch::Tensor& like) const {
  LayerState state{mask, mask.defined() ? attention_bias_from_mask(mask, like) : torch::Tensor()};
  if (attention() == AttentionKind::Causal) {
    const int64_t T = like.size(1);
    // Query i sees keys 0..i: the keys after it get the dtype's lowest value too.
    auto later = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(like.device())).triu(1);
    auto causal = torch::zeros({T, T}, like.options()).masked_fill(later, attention_bias_lowest(like));
    // The minimum, not the sum: two lowest values would add up to -inf.
    state.attention_bias = state.attention_bias.defined() ? torch::minimum(state.attention_bias, causal.view({1, 1, T, T}))
                                                          : causal.view({1, 1, T, T});
  }
  return state;
}

OutputRows BackboneImpl::pooled_rows(const torch::Tensor& mask, const torch::Tensor& input_ids) const {
  if (!mask.defined() && (pooling() == PoolingKind::Mean || pooling() == PoolingKind::LastToken))
    throw Error(model_type() + " backbone: its pooling needs the token mask");
  switch (pooling()) {
    case PoolingKind::FirstToken: return OutputRows::first(1);
    case PoolingKind::Mean: return {};
    case PoolingKind::LastToken:
      // The last real token: padding is on the right, so the count of real tokens minus one.
      return OutputRows::at((mask.sum(1, /*keepdim=*/true) - 1).clamp_min(0).to(torch::kInt64));
    case PoolingKind::EndOfText:
      if (!input_ids.defined())
        throw Error(model_type() + " backbone: end-of-text pooling needs the input ids to find the pooled token");
      return OutputRows::at(end_of_text_positions(input_ids));
  }
  return {};
}

torch::Tensor BackboneImpl::pool(const torch::Tensor& last_rows, const LayerState& state, const OutputRows& rows) {
  torch::Tensor normed = final_norm(last_rows);
  if (pooling() == PoolingKind::Mean) {
    if (!rows.all()) throw Error(model_type() + " backbone: mean pooling reads every row of the last layer");
    auto weights = state.mask.to(normed.scalar_type()).unsqueeze(-1);  // [B, T, 1]
    return (normed * weights).sum(1) / weights.sum(1).clamp_min(1);
  }
  if (rows.all()) {  // the whole last layer: pick the pooled rows here
    OutputRows picked = pooled_rows(state.mask);
    if (picked.leading > 0) return normed.select(1, 0);
    return gather_rows(normed, picked.positions).select(1, 0);
  }
  return normed.select(1, 0);  // the one pooled row that was computed
}

torch::Tensor BackboneImpl::project(const torch::Tensor& pooled) const {
  if (!projection_) throw Error(model_type() + " backbone: the checkpoint holds no projection to a joint space");
  return torch::nn::functional::linear(pooled, projection_->weight);
}

void BackboneImpl::load_projection(const Checkpoint& checkpoint, const std::string& name) {
  if (!checkpoint.contains(name)) return;
  const std::vector<int64_t> shape = checkpoint.shape(name);
  const int64_t width = shape.size() == 2 && shape[0] >= 1 ? shape[0] : 1;
  // Refused, naming the tensor, before a hostile shape allocates anything.
  if (shape.size() != 2 || shape[0] < 1 || shape[1] != hidden_size()) checkpoint.get(name, {width, hidden_size()});
  projection_ = register_module("projection", torch::nn::Linear(torch::nn::LinearOptions(hidden_size(), width).bias(false)));
  checkpoint.load(projection_->weight, name);
}

torch::Tensor BackboneImpl::end_of_text_positions(const torch::Tensor&) const {
  throw Error(model_type() + " backbone: no end-of-text token to pool at");
}

}  // namespace sherl
