#include "lib/model/norm.h"

#include "lib/model/checkpoint.h"

namespace sherl {

NormImpl::NormImpl(NormKind kind, int64_t size, double eps) : kind_(kind), eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({size}));
  if (kind_ == NormKind::Layer) bias_ = register_parameter("bias", torch::zeros({size}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (kind_ == NormKind::Layer) return torch::layer_norm(x, {x.size(-1)}, weight_, bias_, eps_);
  // The mean square in float32 whatever x's precision, as Hugging Face's T5LayerNorm and
  // LlamaRMSNorm; back to x's precision before the weight.
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight_ * normed.to(x.scalar_type());
}

void NormImpl::load(const Checkpoint& checkpoint, const std::string& name) {
  checkpoint.load(weight_, name + ".weight");
  if (kind_ == NormKind::Layer) checkpoint.load(bias_, name + ".bias");
}

}  // namespace sherl
