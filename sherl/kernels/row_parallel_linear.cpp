#include "sherl/kernels/row_parallel_linear.h"

#include <dlfcn.h>

#include <algorithm>

#include "sherl/kernels/cpu_gemm.h"

namespace sherl {
namespace {

using cpu::blas_gemm;
using cpu::for_each_task;
using cpu::gemm;
using cpu::task_count;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// x2 [M, in] with unit column stride (rows may be strided), weight [out, in] and bias [out]
// contiguous (bias with no elements: none; an undefined tensor cannot pass through an
// autograd Function).
class RowParallelLinear : public torch::autograd::Function<RowParallelLinear> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x2, const torch::Tensor& weight,
                               const torch::Tensor& bias) {
    const int64_t M = x2.size(0), in = x2.size(1), out = weight.size(0);
    torch::Tensor y = torch::empty({M, out}, x2.options());
    AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "sherl::row_parallel_linear", [&] {
      const scalar_t* x = x2.data_ptr<scalar_t>();
      const scalar_t* w = weight.data_ptr<scalar_t>();
      const scalar_t* b = bias.numel() > 0 ? bias.data_ptr<scalar_t>() : nullptr;
      scalar_t* yp = y.data_ptr<scalar_t>();
      const int64_t sx = x2.stride(0);
      for_each_task(M, task_count(M), [&](int64_t, int64_t first, int64_t rows) {
        if (rows == 0) return;
        scalar_t* yr = yp + first * out;
        if (b)
          for (int64_t r = 0; r < rows; ++r) std::copy(b, b + out, yr + r * out);
        // y^T [out, rows] = W [out, in] . x^T [in, rows]
        gemm<scalar_t>('T', 'N', out, rows, in, w, in, x + first * sx, sx, b ? 1 : 0, yr, out);
      });
    });
    ctx->save_for_backward({x2, weight});
    ctx->saved_data["has_bias"] = bias.numel() > 0;
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x2 = saved[0], &weight = saved[1];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t M = x2.size(0), in = x2.size(1), out = weight.size(0), tasks = task_count(M);
    const bool want_dx = ctx->needs_input_grad(0), want_dw = ctx->needs_input_grad(1);
    torch::Tensor dx = want_dx ? torch::empty({M, in}, x2.options()) : torch::Tensor();
    // The weight gradient sums over rows: one partial sum per task, added in task order.
    torch::Tensor partial = want_dw ? torch::empty({tasks, out, in}, x2.options()) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "sherl::row_parallel_linear_backward", [&] {
      const scalar_t* x = x2.data_ptr<scalar_t>();
      const scalar_t* w = weight.data_ptr<scalar_t>();
      const scalar_t* g = dy.data_ptr<scalar_t>();
      const int64_t sx = x2.stride(0);
      for_each_task(M, tasks, [&](int64_t task, int64_t first, int64_t rows) {
        if (want_dx && rows > 0)  // dx^T [in, rows] = W^T [in, out] . dy^T [out, rows]
          gemm<scalar_t>('N', 'N', in, rows, out, w, in, g + first * out, out, 0, dx.data_ptr<scalar_t>() + first * in, in);
        if (want_dw) {  // dW^T [in, out] = x^T [in, rows] . dy [rows, out]
          scalar_t* p = partial.data_ptr<scalar_t>() + task * out * in;
          if (rows == 0) std::fill(p, p + out * in, scalar_t(0));
          else gemm<scalar_t>('N', 'T', in, out, rows, x + first * sx, sx, g + first * out, out, 0, p, in);
        }
      });
    });
    torch::Tensor dw = want_dw ? partial.sum(0) : torch::Tensor();
    torch::Tensor db = ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2) ? dy.sum(0) : torch::Tensor();
    return {dx, dw, db};
  }
};

template <typename T>
bool kernel_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  return blas_gemm<T>() != nullptr && x.device().is_cpu() && weight.device().is_cpu() &&
         weight.scalar_type() == x.scalar_type();
}

}  // namespace

bool row_parallel_linear_available() { return blas_gemm<float>() != nullptr; }

torch::Tensor row_parallel_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const auto type = x.scalar_type();
  const bool applies = (type == torch::kFloat && kernel_applies<float>(x, weight)) ||
                       (type == torch::kDouble && kernel_applies<double>(x, weight));
  if (!applies || x.dim() < 1 || x.size(-1) != weight.size(1)) return torch::nn::functional::linear(x, weight, bias);
  torch::Tensor x2 = x.reshape({-1, x.size(-1)});  // a view where the rows allow it
  if (x2.stride(1) != 1 || x2.stride(0) < x2.size(1)) x2 = x2.contiguous();
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = weight.size(0);
  torch::Tensor b = bias.defined() ? bias.contiguous() : torch::empty({0}, x.options());
  return RowParallelLinear::apply(x2, weight.contiguous(), b)[0].view(sizes);
}

void use_single_threaded_blas() {
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
}

}  // namespace sherl
