#pragma once
// The trainable part of an adapted model and its forward from cached tiers: MTSA (or, for
// the linear-probe baseline, none), the frozen late route, and a new head.
#include <torch/torch.h>

#include <memory>

#include "sherl/method/adapter_io.h"  // Method
#include "sherl/method/head.h"
#include "sherl/method/late_route.h"
#include "sherl/method/mtsa.h"

namespace sherl {


class AdaptedModelImpl : public torch::nn::Module {
 public:
  // A new model: mtsa_options.num_tiers/hidden_size must match the shards; no MTSA is
  // built for Method::Linear.
  AdaptedModelImpl(Method method, const MtsaOptions& mtsa_options, int64_t num_outputs,
                   std::shared_ptr<LateRoute> late_route);
  // From trained modules (mtsa null for the linear probe).
  AdaptedModelImpl(Mtsa mtsa, Head head, std::shared_ptr<LateRoute> late_route);
  // tiers: [B, T, N, d] (float16 is computed in float32); mask [B, T] int64. Returns the
  // head's outputs [B, num_outputs].
  torch::Tensor forward(const torch::Tensor& tiers, const torch::Tensor& mask);
  Method method() const { return method_; }
  Mtsa& mtsa() { return mtsa_; }
  Head& head() { return head_; }
  const LateRoute& late_route() const { return *late_route_; }

 private:
  Method method_;
  Mtsa mtsa_{nullptr};
  Head head_{nullptr};
  std::shared_ptr<LateRoute> late_route_;
};
TORCH_MODULE(AdaptedModel);

}  // namespace sherl
