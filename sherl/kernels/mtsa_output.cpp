#include "sherl/kernels/mtsa_output.h"

#include "lib/core/cpu_vector.h"
#include "sherl/kernels/cpu_gemm.h"
#include "sherl/kernels/layer_norm_rows.h"

namespace sherl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One block of rows forward: out = LayerNorm(y) [* mask] + gate * last.
template <typename T>
SHERL_INLINE void forward_rows(const T* y, const T* __restrict last, int64_t ld_last, T* __restrict out, int64_t rows,
                               int64_t d, const T* gamma, const T* beta, T eps, T gate, const T* __restrict mask,
                               T* xhat, T* rstd) {
  cpu::norm_rows(y, d, out, d, rows, d, gamma, beta, eps, xhat, rstd);
  for (int64_t r = 0; r < rows; ++r, out += d, last += ld_last) {
    if (mask) {
      for (int64_t k = 0; k < d; ++k) out[k] = out[k] * mask[r * d + k] + gate * last[k];
    } else {
      for (int64_t k = 0; k < d; ++k) out[k] += gate * last[k];
    }
  }
}

// One block of rows backward: dgate += <dout, last>; the LayerNorm's backward of
// dout [* mask] into dy, its sums into sums[0, 3d), dgate into sums[3d].
template <typename T>
SHERL_INLINE void backward_rows(const T* __restrict dout, const T* __restrict last, int64_t ld_last, int64_t rows,
                                int64_t d, const T* gamma, const T* __restrict mask, const T* xhat, const T* rstd,
                                T* __restrict scratch, T* dy, T* sums) {
  T dgate = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = dout + r * d;
    dgate += cpu::dot(g, last + r * ld_last, d);
    T* s = scratch + r * d;
    if (mask) {
      for (int64_t k = 0; k < d; ++k) s[k] = g[k] * mask[r * d + k];
    } else {
      std::copy(g, g + d, s);
    }
  }
  cpu::norm_rows_backward(scratch, d, rows, d, gamma, xhat, rstd, dy, sums);
  sums[3 * d] += dgate;
}

SHERL_VECTOR_CLONES void forward_f32(const float* y, const float* last, int64_t ld_last, float* out, int64_t rows,
                                     int64_t d, const float* gamma, const float* beta, float eps, float gate,
                                     const float* mask, float* xhat, float* rstd) {
  forward_rows(y, last, ld_last, out, rows, d, gamma, beta, eps, gate, mask, xhat, rstd);
}
SHERL_VECTOR_CLONES void forward_f64(const double* y, const double* last, int64_t ld_last, double* out, int64_t rows,
                                     int64_t d, const double* gamma, const double* beta, double eps, double gate,
                                     const double* mask, double* xhat, double* rstd) {
  forward_rows(y, last, ld_last, out, rows, d, gamma, beta, eps, gate, mask, xhat, rstd);
}
SHERL_VECTOR_CLONES void backward_f32(const float* dout, const float* last, int64_t ld_last, int64_t rows, int64_t d,
                                      const float* gamma, const float* mask, const float* xhat, const float* rstd,
                                      float* scratch, float* dy, float* sums) {
  backward_rows(dout, last, ld_last, rows, d, gamma, mask, xhat, rstd, scratch, dy, sums);
}
SHERL_VECTOR_CLONES void backward_f64(const double* dout, const double* last, int64_t ld_last, int64_t rows, int64_t d,
                                      const double* gamma, const double* mask, const double* xhat, const double* rstd,
                                      double* scratch, double* dy, double* sums) {
  backward_rows(dout, last, ld_last, rows, d, gamma, mask, xhat, rstd, scratch, dy, sums);
}
void forward_kernel(const float* y, const float* last, int64_t ld_last, float* out, int64_t rows, int64_t d,
                    const float* gamma, const float* beta, float eps, float gate, const float* mask, float* xhat,
                    float* rstd) {
  forward_f32(y, last, ld_last, out, rows, d, gamma, beta, eps, gate, mask, xhat, rstd);
}
void forward_kernel(const double* y, const double* last, int64_t ld_last, double* out, int64_t rows, int64_t d,
                    const double* gamma, const double* beta, double eps, double gate, const double* mask,
                    double* xhat, double* rstd) {
  forward_f64(y, last, ld_last, out, rows, d, gamma, beta, eps, gate, mask, xhat, rstd);
}
void backward_kernel(const float* dout, const float* last, int64_t ld_last, int64_t rows, int64_t d,
                     const float* gamma, const float* mask, const float* xhat, const float* rstd, float* scratch,
                     float* dy, float* sums) {
  backward_f32(dout, last, ld_last, rows, d, gamma, mask, xhat, rstd, scratch, dy, sums);
}
void backward_kernel(const double* dout, const double* last, int64_t ld_last, int64_t rows, int64_t d,
                     const double* gamma, const double* mask, const double* xhat, const double* rstd, double* scratch,
                     double* dy, double* sums) {
  backward_f64(dout, last, ld_last, rows, d, gamma, mask, xhat, rstd, scratch, dy, sums);
}

template <typename T>
const T* data_or_null(const torch::Tensor& t) {
  return t.numel() > 0 ? t.data_ptr<T>() : nullptr;
}

// Inputs: y, last, gamma, beta, gate, mask (no elements: none; an undefined tensor cannot
// pass through an autograd Function), eps.
class MtsaOutputLn : public torch::autograd::Function<MtsaOutputLn> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& y, const torch::Tensor& last,
                               const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& gate,
                               const torch::Tensor& mask, double eps) {
    const int64_t M = y.size(0), d = y.size(1);
    torch::Tensor out = torch::empty_like(y), xhat = torch::empty_like(y), rstd = torch::empty({M}, y.options());
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "sherl::mtsa_output_ln", [&] {
      const scalar_t g = gate.item<scalar_t>();
      const scalar_t* m = data_or_null<scalar_t>(mask);
      cpu::for_each_task(M, cpu::task_count(M), [&](int64_t, int64_t first, int64_t rows) {
        if (rows == 0) return;
        forward_kernel(y.data_ptr<scalar_t>() + first * d, last.data_ptr<scalar_t>() + first * last.stride(0),
                       last.stride(0), out.data_ptr<scalar_t>() + first * d, rows, d, gamma.data_ptr<scalar_t>(),
                       beta.data_ptr<scalar_t>(), static_cast<scalar_t>(eps), g, m ? m + first * d : nullptr,
                       xhat.data_ptr<scalar_t>() + first * d, rstd.data_ptr<scalar_t>() + first);
      });
    });
    ctx->save_for_backward({last, gamma, mask, xhat, rstd});
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &last = saved[0], &gamma = saved[1], &mask = saved[2], &xhat = saved[3], &rstd = saved[4];
    const torch::Tensor dout = grads[0].contiguous();
    const int64_t M = xhat.size(0), d = xhat.size(1), tasks = cpu::task_count(M);
    torch::Tensor dy = torch::empty_like(xhat);
    // Per task: [sum of dy | dgamma | dbeta | dgate], summed over the tasks in task order.
    torch::Tensor sums = torch::zeros({tasks, 3 * d + 1}, xhat.options());
    AT_DISPATCH_FLOATING_TYPES(xhat.scalar_type(), "sherl::mtsa_output_ln_backward", [&] {
      const scalar_t* m = data_or_null<scalar_t>(mask);
      cpu::for_each_task(M, tasks, [&](int64_t task, int64_t task_first, int64_t task_rows) {
        std::vector<scalar_t> scratch(static_cast<size_t>(std::min(task_rows, cpu::kBlockRows) * d));
        cpu::for_each_row_block(task_first, task_rows, [&](int64_t first, int64_t rows) {
          backward_kernel(dout.data_ptr<scalar_t>() + first * d, last.data_ptr<scalar_t>() + first * last.stride(0),
                          last.stride(0), rows, d, gamma.data_ptr<scalar_t>(), m ? m + first * d : nullptr,
                          xhat.data_ptr<scalar_t>() + first * d, rstd.data_ptr<scalar_t>() + first, scratch.data(),
                          dy.data_ptr<scalar_t>() + first * d, sums.data_ptr<scalar_t>() + task * (3 * d + 1));
        });
      });
    });
    const torch::Tensor total = sums.sum(0);
    return {dy, torch::Tensor(), total.narrow(0, d, d), total.narrow(0, 2 * d, d), total.narrow(0, 3 * d, 1),
            torch::Tensor(), torch::Tensor()};
  }
};

bool is_vector(const torch::Tensor& t, int64_t n, const torch::Tensor& like) {
  return t.defined() && t.dim() == 1 && t.size(0) == n && t.is_contiguous() && t.device() == like.device() &&
         t.scalar_type() == like.scalar_type();
}

}  // namespace

bool mtsa_output_kernel_applies(const torch::Tensor& y, const torch::Tensor& last, const torch::Tensor& gamma,
                                const torch::Tensor& beta, const torch::Tensor& gate, const torch::Tensor& mask) {
  if (!y.defined() || y.dim() != 2 || !y.is_contiguous() || !y.device().is_cpu()) return false;
  const auto type = y.scalar_type();
  if (type != torch::kFloat && type != torch::kDouble) return false;
  const int64_t d = y.size(1);
  const bool last_fits = last.defined() && last.sizes() == y.sizes() && last.stride(1) == 1 &&
                         last.stride(0) >= d && !last.requires_grad() && last.device().is_cpu() &&
                         last.scalar_type() == type;
  const bool mask_fits = !mask.defined() || (mask.sizes() == y.sizes() && mask.is_contiguous() &&
                                             mask.device().is_cpu() && mask.scalar_type() == type);
  return last_fits && mask_fits && is_vector(gamma, d, y) && is_vector(beta, d, y) && is_vector(gate, 1, y);
}

torch::Tensor mtsa_output_ln(const torch::Tensor& y, const torch::Tensor& last, const torch::Tensor& gamma,
                             const torch::Tensor& beta, double eps, const torch::Tensor& gate, const torch::Tensor& mask) {
  TORCH_CHECK(mtsa_output_kernel_applies(y, last, gamma, beta, gate, mask), "mtsa_output_ln: the kernel does not apply");
  torch::Tensor m = mask.defined() ? mask : torch::empty({0}, y.options());
  return MtsaOutputLn::apply(y, last, gamma, beta, gate, m, eps)[0];
}

}  // namespace sherl
