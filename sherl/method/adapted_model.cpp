#include "sherl/method/adapted_model.h"

#include "lib/core/error.h"
#include "lib/core/float16.h"

namespace sherl {

AdaptedModelImpl::AdaptedModelImpl(Method method, const MtsaOptions& mtsa_options, int64_t num_outputs,
                                   std::shared_ptr<LateRoute> late_route)
    : method_(method), late_route_(std::move(late_route)) {
  // Registered under the adapter's tensor-name prefixes: "mtsa.*" is stripped on save.
  if (method_ == Method::Sherl) mtsa_ = register_module("mtsa", Mtsa(mtsa_options));
  head_ = register_module("head", Head(mtsa_options.hidden_size, num_outputs));
}

AdaptedModelImpl::AdaptedModelImpl(Mtsa mtsa, Head head, std::shared_ptr<LateRoute> late_route)
    : method_(mtsa ? Method::Sherl : Method::Linear), late_route_(std::move(late_route)) {
  if (mtsa) mtsa_ = register_module("mtsa", std::move(mtsa));
  head_ = register_module("head", std::move(head));
}

torch::Tensor AdaptedModelImpl::forward(const torch::Tensor& tiers, const torch::Tensor& mask) {
  torch::Tensor hidden = method_ == Method::Sherl ? mtsa_->forward(tiers, mask) : widen_half(tiers.select(2, tiers.size(2) - 1));
  return head_->forward(late_route_->forward(hidden, mask));
}

}  // namespace sherl
