#include "sherl/method/tier_aggregation.h"

#include "sherl/kernels/tier_aggregation_cpu.h"

namespace sherl {
namespace {

constexpr double kCosineEps = 1e-8;  // added to the l2 norm (not clamped)
constexpr double kL1Eps = 1e-8;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CpuTierAggregation : public torch::autograd::Function<CpuTierAggregation> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& shallow, const torch::Tensor& guide,
                               const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& valid) {
    auto [z, attention, redundancy] = cpu::aggregate_tiers_forward(shallow, guide, weight, bias, valid);
    ctx->save_for_backward({shallow, guide, weight, bias});
    ctx->saved_data["valid"] = valid;
    ctx->mark_non_differentiable({attention, redundancy});
    return {z, attention, redundancy};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor valid = ctx->saved_data["valid"].toTensor();
    const torch::Tensor dz = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(saved[1]);
    auto [dshallow, dguide, dweight, dbias] = cpu::aggregate_tiers_backward(dz, saved[0], saved[1], saved[2], saved[3], valid);
    return {dshallow, dguide, dweight, dbias, torch::Tensor()};
  }
};

bool cpu_kernel_applies(const torch::Tensor& shallow) {
  const auto type = shallow.scalar_type();
  return shallow.device().is_cpu() && (type == torch::kFloat || type == torch::kDouble);
}

}  // namespace

TierAggregation aggregate_tiers(const torch::Tensor& shallow, const torch::Tensor& guide, const torch::Tensor& weight,
                                const torch::Tensor& bias, const torch::Tensor& valid) {
  TORCH_CHECK(shallow.dim() == 3 && shallow.size(1) >= 1, "aggregate_tiers: shallow must be [P, M, h], got ",
              shallow.sizes());
  const int64_t tokens = shallow.size(0), h = shallow.size(2);
  TORCH_CHECK(guide.sizes() == torch::IntArrayRef({tokens, h}), "aggregate_tiers: guide must be [", tokens, ", ", h,
              "], got ", guide.sizes());
  TORCH_CHECK(weight.numel() == h && bias.numel() == 1, "aggregate_tiers: attention weight must have ", h,
              " values and bias 1");
  TORCH_CHECK(!valid.defined() || valid.sizes() == torch::IntArrayRef({tokens}),
              "aggregate_tiers: valid must be [", tokens, "]");
  if (!cpu_kernel_applies(shallow)) return aggregate_tiers_reference(shallow, guide, weight, bias, valid);
  const auto type = shallow.scalar_type();
  auto outputs = CpuTierAggregation::apply(
      shallow.contiguous(), guide.to(type).contiguous(), weight.to(type).reshape({h}).contiguous(),
      bias.to(type).reshape({1}),
      // An undefined tensor cannot pass through an autograd Function: "all real" is explicit.
      valid.defined() ? valid.to(torch::kBool).contiguous() : torch::ones({tokens}, torch::kBool));
  return {outputs[0], outputs[1], outputs[2]};
}

TierAggregation aggregate_tiers_reference(const torch::Tensor& shallow, const torch::Tensor& guide,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          const torch::Tensor& valid) {
  torch::Tensor unit = shallow / (shallow.norm(2, -1, /*keepdim=*/true) + kCosineEps);
  torch::Tensor r = torch::relu(torch::matmul(unit, unit.transpose(-1, -2))).sum(-1);  // [P, M]
  // Padding tokens may have zero projections, so r = 0 there: they must not divide by it.
  if (valid.defined()) r = torch::where(valid.to(torch::kBool).unsqueeze(-1), r, torch::ones_like(r));
  torch::Tensor score = torch::matmul(shallow * guide.unsqueeze(1), weight.reshape({-1, 1})).squeeze(-1) + bias;
  torch::Tensor a = torch::relu(score) / r;
  a = a / (a.abs().sum(-1, /*keepdim=*/true) + kL1Eps);
  torch::Tensor z = guide + (a.unsqueeze(-1) * shallow).sum(1);
  return {z, a.detach(), r.detach()};
}

}  // namespace sherl
