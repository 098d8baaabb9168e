#include "sherl/kernels/fused_adamw.h"

#include <c10/util/string_utils.h>

#include <cmath>

namespace sherl {
namespace {

using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

bool is_plain_cpu_float(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous() &&
         t.layout() == torch::kStrided;
}

// The coefficients of one AdamW update, as torch::optim::AdamW computes them (in double,
// applied in float).
struct Update {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bias_correction2, eps, step_size;
};

// p *= decay; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= step_size m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const Update& u) {
  for (int64_t k = 0; k < n; ++k) {
    p[k] *= u.decay;
    m[k] = m[k] * u.beta1 + u.one_minus_beta1 * g[k];
    v[k] = v[k] * u.beta2 + u.one_minus_beta2 * g[k] * g[k];
    p[k] -= u.step_size * (m[k] / (std::sqrt(v[k]) / u.sqrt_bias_correction2 + u.eps));
  }
}

}  // namespace

bool FusedAdamW::fused() const {
  for (const auto& group : param_groups_) {
    if (static_cast<const AdamWOptions&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!is_plain_cpu_float(p) || !is_plain_cpu_float(p.grad())) return false;
      auto it = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == state_.end()) continue;
      const auto& s = static_cast<const AdamWParamState&>(*it->second);
      if (!is_plain_cpu_float(s.exp_avg()) || !is_plain_cpu_float(s.exp_avg_sq())) return false;
    }
  }
  return true;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  if (!fused()) return AdamW::step(closure);
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const AdamWOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {  // as AdamW: zero moments at the first step
        auto s = std::make_unique<AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, s.step()), bias_correction2 = 1 - std::pow(beta2, s.step());
      const Update u{static_cast<float>(1 - o.lr() * o.weight_decay()), static_cast<float>(beta1),
                     static_cast<float>(1 - beta1), static_cast<float>(beta2), static_cast<float>(1 - beta2),
                     static_cast<float>(std::sqrt(bias_correction2)), static_cast<float>(o.eps()),
                     static_cast<float>(o.lr() / bias_correction1)};
      adamw_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), s.exp_avg().data_ptr<float>(),
                   s.exp_avg_sq().data_ptr<float>(), p.numel(), u);
    }
  }
  return loss;
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  for (const auto& g : grads)
    if (!is_plain_cpu_float(g)) return torch::nn::utils::clip_grad_norm_(parameters, max_norm);
  double sum_of_squares = 0;
  for (const auto& g : grads) {
    const float* x = g.data_ptr<float>();
    for (int64_t k = 0, n = g.numel(); k < n; ++k) sum_of_squares += static_cast<double>(x[k]) * x[k];
  }
  const double total = std::sqrt(sum_of_squares);
  const double coefficient = max_norm / (total + 1e-6);
  if (coefficient < 1) {
    torch::NoGradGuard no_grad;
    for (auto& g : grads) {
      float* x = g.data_ptr<float>();
      for (int64_t k = 0, n = g.numel(); k < n; ++k) x[k] *= static_cast<float>(coefficient);
    }
  }
  return total;
}

}  // namespace sherl
