#include "lib/model/input_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lib/core/cpu_vector.h"

namespace sherl {
namespace {

using cpu::axpy;
using cpu::dot;

// Softmax weights of row u over the T inputs of one example.
template <typename T>
SHERL_INLINE void softmax_weights(const T* x, const T* u, const T* bias, T* p, int64_t tokens, int64_t d) {
  T top = -std::numeric_limits<T>::infinity();
  for (int64_t t = 0; t < tokens; ++t) {
    p[t] = dot(u, x + t * d, d) + (bias ? bias[t] : T(0));
    top = std::max(top, p[t]);
  }
  T sum = 0;
  for (int64_t t = 0; t < tokens; ++t) sum += (p[t] = std::exp(p[t] - top));
  for (int64_t t = 0; t < tokens; ++t) p[t] /= sum;
}

template <typename T>
SHERL_INLINE void forward_range(const T* x, const T* u, const T* bias, T* mixed, T* probs, int64_t begin,
                                int64_t end, int64_t rows, int64_t tokens, int64_t d) {
  for (int64_t b = begin; b < end; ++b) {
    const T* xb = x + b * tokens * d;
    for (int64_t j = 0; j < rows; ++j) {
      T* p = probs + (b * rows + j) * tokens;
      softmax_weights(xb, u + (b * rows + j) * d, bias ? bias + b * tokens : nullptr, p, tokens, d);
      T* m = mixed + (b * rows + j) * d;
      std::fill(m, m + d, T(0));
      for (int64_t t = 0; t < tokens; ++t) axpy(p[t], xb + t * d, m, d);
    }
  }
}

// Reverse of forward_range for one example and row (d<v> = dLoss/d<v>):
//   m = sum_t p_t x_t        -> dp_t = <dm, x_t>,  dx_t = p_t dm
//   p = softmax(s)           -> ds_t = p_t (dp_t - sum_k p_k dp_k)
//   s_t = <u, x_t> + bias_t  -> du = sum_t ds_t x_t,  dx_t += ds_t u
template <typename T>
SHERL_INLINE void backward_range(const T* dmixed, const T* x, const T* u, const T* probs, T* dx, T* du,
                                 int64_t begin, int64_t end, int64_t rows, int64_t tokens, int64_t d) {
  std::vector<T> ds(tokens);
  for (int64_t b = begin; b < end; ++b) {
    const T* xb = x + b * tokens * d;
    T* dxb = dx + b * tokens * d;
    std::fill(dxb, dxb + tokens * d, T(0));
    for (int64_t j = 0; j < rows; ++j) {
      const int64_t row = b * rows + j;
      const T* p = probs + row * tokens;
      const T* dm = dmixed + row * d;
      T mean = 0;
      for (int64_t t = 0; t < tokens; ++t) mean += p[t] * (ds[t] = dot(dm, xb + t * d, d));
      T* dur = du + row * d;
      std::fill(dur, dur + d, T(0));
      for (int64_t t = 0; t < tokens; ++t) {
        ds[t] = p[t] * (ds[t] - mean);
        axpy(ds[t], xb + t * d, dur, d);
        axpy(p[t], dm, dxb + t * d, d);
        axpy(ds[t], u + row * d, dxb + t * d, d);
      }
    }
  }
}

SHERL_VECTOR_CLONES void forward_kernel(const float* x, const float* u, const float* bias, float* mixed, float* probs,
                                        int64_t b, int64_t e, int64_t rows, int64_t tokens, int64_t d) {
  forward_range(x, u, bias, mixed, probs, b, e, rows, tokens, d);
}
SHERL_VECTOR_CLONES void forward_kernel(const double* x, const double* u, const double* bias, double* mixed,
                                        double* probs, int64_t b, int64_t e, int64_t rows, int64_t tokens, int64_t d) {
  forward_range(x, u, bias, mixed, probs, b, e, rows, tokens, d);
}
SHERL_VECTOR_CLONES void backward_kernel(const float* dm, const float* x, const float* u, const float* probs, float* dx,
                                         float* du, int64_t b, int64_t e, int64_t rows, int64_t tokens, int64_t d) {
  backward_range(dm, x, u, probs, dx, du, b, e, rows, tokens, d);
}
SHERL_VECTOR_CLONES void backward_kernel(const double* dm, const double* x, const double* u, const double* probs,
                                         double* dx, double* du, int64_t b, int64_t e, int64_t rows, int64_t tokens,
                                         int64_t d) {
  backward_range(dm, x, u, probs, dx, du, b, e, rows, tokens, d);
}

constexpr int64_t kGrain = 4;  // examples per parallel task

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CpuInputAttention : public torch::autograd::Function<CpuInputAttention> {
 public:
  // bias: [B, T], or no elements where the caller has none (an undefined tensor cannot pass
  // through an autograd Function).
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& u,
                               const torch::Tensor& bias) {
    const int64_t B = x.size(0), T = x.size(1), d = x.size(2), J = u.size(1);
    torch::Tensor mixed = torch::empty({B, J, d}, x.options()), probs = torch::empty({B, J, T}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sherl::input_attention", [&] {
      at::parallel_for(0, B, kGrain, [&](int64_t b, int64_t e) {
        forward_kernel(x.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                       bias.numel() > 0 ? bias.data_ptr<scalar_t>() : nullptr,
                       mixed.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(), b, e, J, T, d);
      });
    });
    ctx->save_for_backward({x, u, probs});
    return {mixed};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &u = saved[1], &probs = saved[2];
    const torch::Tensor dm = grads[0].contiguous();
    const int64_t B = x.size(0), T = x.size(1), d = x.size(2), J = u.size(1);
    torch::Tensor dx = torch::empty_like(x), du = torch::empty_like(u);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sherl::input_attention_backward", [&] {
      at::parallel_for(0, B, kGrain, [&](int64_t b, int64_t e) {
        backward_kernel(dm.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                        probs.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), du.data_ptr<scalar_t>(), b, e, J, T, d);
      });
    });
    return {dx, du, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor input_attention(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias) {
  TORCH_CHECK(x.dim() == 3 && u.dim() == 3 && u.size(0) == x.size(0) && u.size(2) == x.size(2),
              "input_attention: x must be [B, T, d] and u [B, J, d], got ", x.sizes(), " and ", u.sizes());
  TORCH_CHECK(!bias.defined() || bias.numel() == x.size(0) * x.size(1), "input_attention: bias must be [B, T]");
  const auto type = x.scalar_type();
  if (!x.device().is_cpu() || (type != torch::kFloat && type != torch::kDouble))
    return input_attention_reference(x, u, bias);
  torch::Tensor b = bias.defined() ? bias.to(type).reshape({x.size(0), x.size(1)}).contiguous()
                                   : torch::empty({0}, x.options());
  return CpuInputAttention::apply(x.contiguous(), u.to(type).contiguous(), b)[0];
}

torch::Tensor input_attention_reference(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias) {
  torch::Tensor scores = torch::matmul(u, x.transpose(1, 2));  // [B, J, T]
  if (bias.defined()) scores = scores + bias.reshape({x.size(0), 1, x.size(1)}).to(scores.scalar_type());
  return torch::matmul(torch::softmax(scores, -1), x);
}

}  // namespace sherl
