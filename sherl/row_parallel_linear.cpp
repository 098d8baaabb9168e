#include "sherl/row_parallel_linear.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>

namespace sherl {
namespace {

// Fortran BLAS, column-major: C = alpha op(A) op(B) + beta C.
template <typename T>
using GemmFn = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                        const T* alpha, const T* a, const int* lda, const T* b, const int* ldb, const T* beta, T* c,
                        const int* ldc);

template <typename T>
GemmFn<T> blas_gemm();
template <>
GemmFn<float> blas_gemm<float>() {
  static const auto fn = reinterpret_cast<GemmFn<float>>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return fn;
}
template <>
GemmFn<double> blas_gemm<double>() {
  static const auto fn = reinterpret_cast<GemmFn<double>>(dlsym(RTLD_DEFAULT, "dgemm_"));
  return fn;
}

// Row-major products through the column-major BLAS (a row-major [r, c] matrix with row
// stride ld is a column-major [c, r] one with leading dimension ld).
template <typename T>
void gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
          T* c, int64_t ldc) {
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ia = static_cast<int>(lda), ib = static_cast<int>(ldb), ic = static_cast<int>(ldc);
  const T one = 1;
  blas_gemm<T>()(&ta, &tb, &im, &in, &ik, &one, a, &ia, b, &ib, &beta, c, &ic);
}

constexpr int64_t kMinRowsPerTask = 256;

// Row ranges fixed in advance from the thread count, so that results never depend on
// which thread ran which range.
int64_t task_count(int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows / kMinRowsPerTask));
}
int64_t task_begin(int64_t task, int64_t tasks, int64_t rows) { return rows * task / tasks; }

// Runs body(task, first_row, row_count) for every task, in parallel.
template <typename Body>
void for_each_task(int64_t rows, int64_t tasks, const Body& body) {
  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = task_begin(t, tasks, rows);
      body(t, first, task_begin(t + 1, tasks, rows) - first);
    }
  });
}

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
