#include "sherl/method/late_route.h"

#include "lib/core/error.h"

namespace sherl {

LateRoute::LateRoute(Backbone backbone, int64_t late_layers, torch::ScalarType precision)
    : backbone_(std::move(backbone)), late_layers_(late_layers), precision_(precision) {
  if (late_layers_ < 1 || late_layers_ > backbone_->num_layers())
    throw Error("late route: " + std::to_string(late_layers_) + " late layers asked of a backbone with " +
                std::to_string(backbone_->num_layers()));
  for (auto& p : backbone_->parameters()) p.set_requires_grad(false);
  if (precision_ != torch::kFloat32) backbone_->to(precision_);
}

torch::Tensor LateRoute::forward(const torch::Tensor& hidden, const torch::Tensor& mask,
                                 const torch::Tensor& pooled_positions) const {
  torch::Tensor h = hidden.to(precision_);
  const LayerState state = backbone_->layer_state(mask, h);
  const int64_t last = backbone_->num_layers() - 1;
  for (int64_t i = last - late_layers_ + 1; i < last; ++i) h = backbone_->layer(i, h, state);
  const OutputRows rows = pooled_positions.defined() ? OutputRows::at(pooled_positions) : backbone_->pooled_rows(mask);
  h = backbone_->layer(last, h, state, rows);
  return backbone_->pool(h, state, rows).to(hidden.scalar_type());
}

std::vector<torch::Tensor> LateRoute::snapshot() const {
  std::vector<torch::Tensor> out;
  for (int64_t i = backbone_->num_layers() - late_layers_; i < backbone_->num_layers(); ++i)
    for (auto& p : backbone_->layer_parameters(i)) out.push_back(p.detach().clone());
  return out;
}

}  // namespace sherl
