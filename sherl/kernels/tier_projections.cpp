#include "sherl/kernels/tier_projections.h"

#include "lib/core/cpu_vector.h"
#include "sherl/kernels/cpu_gemm.h"
#include "sherl/kernels/layer_norm_rows.h"

namespace sherl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

SHERL_VECTOR_CLONES void norm_rows_f32(float* y, int64_t ld, int64_t rows, int64_t h, const float* gamma,
                                       const float* beta, float eps, float* xhat, float* rstd) {
  cpu::norm_rows(y, ld, y, ld, rows, h, gamma, beta, eps, xhat, rstd);
}
SHERL_VECTOR_CLONES void norm_rows_f64(double* y, int64_t ld, int64_t rows, int64_t h, const double* gamma,
                                       const double* beta, double eps, double* xhat, double* rstd) {
  cpu::norm_rows(y, ld, y, ld, rows, h, gamma, beta, eps, xhat, rstd);
}
SHERL_VECTOR_CLONES void norm_rows_backward_f32(const float* g, int64_t ld, int64_t rows, int64_t h, const float* gamma,
                                                const float* xhat, const float* rstd, float* dy, float* sums) {
  cpu::norm_rows_backward(g, ld, rows, h, gamma, xhat, rstd, dy, sums);
}
SHERL_VECTOR_CLONES void norm_rows_backward_f64(const double* g, int64_t ld, int64_t rows, int64_t h,
                                                const double* gamma, const double* xhat, const double* rstd,
                                                double* dy, double* sums) {
  cpu::norm_rows_backward(g, ld, rows, h, gamma, xhat, rstd, dy, sums);
}
void norm_kernel(float* y, int64_t ld, int64_t rows, int64_t h, const float* gamma, const float* beta, float eps,
                 float* xhat, float* rstd) {
  norm_rows_f32(y, ld, rows, h, gamma, beta, eps, xhat, rstd);
}
void norm_kernel(double* y, int64_t ld, int64_t rows, int64_t h, const double* gamma, const double* beta, double eps,
                 double* xhat, double* rstd) {
  norm_rows_f64(y, ld, rows, h, gamma, beta, eps, xhat, rstd);
}
void norm_backward_kernel(const float* g, int64_t ld, int64_t rows, int64_t h, const float* gamma, const float* xhat,
                          const float* rstd, float* dy, float* sums) {
  norm_rows_backward_f32(g, ld, rows, h, gamma, xhat, rstd, dy, sums);
}
void norm_backward_kernel(const double* g, int64_t ld, int64_t rows, int64_t h, const double* gamma,
                          const double* xhat, const double* rstd, double* dy, double* sums) {
  norm_rows_backward_f64(g, ld, rows, h, gamma, xhat, rstd, dy, sums);
}

// Where tier i's rows live in the outputs (or their gradients): shallow [M, N-1, h] for
// i < N-1, guide [M, h] for the last tier.
template <typename T>
std::pair<T*, int64_t> tier_rows(T* shallow, T* guide, int64_t i, int64_t n, int64_t h, int64_t first) {
  if (i == n - 1) return {guide + first * h, h};
  return {shallow + first * (n - 1) * h + i * h, (n - 1) * h};
}

template <typename T>
std::vector<const T*> pointers(const std::vector<torch::Tensor>& ts) {
  std::vector<const T*> out;
  for (const auto& t : ts) out.push_back(t.data_ptr<T>());
  return out;
}

// x [M, N, d] (row stride sx); inputs: tiers, then the 4N parameters (weights, biases,
// gammas, betas), then eps.
class TierProjectionsLinearLn : public torch::autograd::Function<TierProjectionsLinearLn> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, torch::TensorList weight,
                               torch::TensorList bias, torch::TensorList gamma, torch::TensorList beta, double eps) {
    const int64_t M = x.size(0), n = x.size(1), d = x.size(2), h = weight[0].size(0), tasks = cpu::task_count(M);
    torch::Tensor shallow = torch::empty({M, n - 1, h}, x.options()), guide = torch::empty({M, h}, x.options());
    torch::Tensor xhat = torch::empty({n, M, h}, x.options()), rstd = torch::empty({n, M}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sherl::project_tiers_linear_ln", [&] {
      const auto w = pointers<scalar_t>(weight.vec()), b = pointers<scalar_t>(bias.vec());
      const auto g = pointers<scalar_t>(gamma.vec()), be = pointers<scalar_t>(beta.vec());
      const scalar_t* xp = x.data_ptr<scalar_t>();
      scalar_t *sp = shallow.data_ptr<scalar_t>(), *gp = guide.data_ptr<scalar_t>();
      scalar_t *xh = xhat.data_ptr<scalar_t>(), *rs = rstd.data_ptr<scalar_t>();
      const int64_t sx = x.stride(0);
      cpu::for_each_task(M, tasks, [&](int64_t, int64_t task_first, int64_t task_rows) {
        cpu::for_each_row_block(task_first, task_rows, [&](int64_t first, int64_t rows) {
          for (int64_t i = 0; i < n; ++i) {
            auto [y, ld] = tier_rows(sp, gp, i, n, h, first);
            for (int64_t r = 0; r < rows; ++r) std::copy(b[i], b[i] + h, y + r * ld);
            // y^T [h, rows] = W_i [h, d] . x_i^T [d, rows], added to the bias
            cpu::gemm<scalar_t>('T', 'N', h, rows, d, w[i], d, xp + first * sx + i * d, sx, 1, y, ld);
            norm_kernel(y, ld, rows, h, g[i], be[i], static_cast<scalar_t>(eps), xh + (i * M + first) * h,
                        rs + i * M + first);
          }
        });
      });
    });
    std::vector<torch::Tensor> saved{x, xhat, rstd};
    saved.insert(saved.end(), gamma.begin(), gamma.end());
    ctx->save_for_backward(saved);
    return {shallow, guide};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &xhat = saved[1], &rstd = saved[2];
    const std::vector<torch::Tensor> gamma(saved.begin() + 3, saved.end());
    const torch::Tensor dshallow = grads[0].contiguous(), dguide = grads[1].contiguous();
    const int64_t M = x.size(0), n = x.size(1), d = x.size(2), h = xhat.size(2), tasks = cpu::task_count(M);
    // Per task: the weight gradients [N, h, d] and [dbias | dgamma | dbeta] [N, 3, h],
    // summed over the tasks in task order afterwards.
    torch::Tensor dw_partial = torch::zeros({tasks, n, h, d}, x.options());
    torch::Tensor sums_partial = torch::zeros({tasks, n, 3, h}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sherl::project_tiers_linear_ln_backward", [&] {
      const auto g = pointers<scalar_t>(gamma);
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t *dsp = dshallow.data_ptr<scalar_t>(), *dgp = dguide.data_ptr<scalar_t>();
      const scalar_t *xh = xhat.data_ptr<scalar_t>(), *rs = rstd.data_ptr<scalar_t>();
      const int64_t sx = x.stride(0);
      cpu::for_each_task(M, tasks, [&](int64_t task, int64_t task_first, int64_t task_rows) {
        std::vector<scalar_t> dy(static_cast<size_t>(std::min(task_rows, cpu::kBlockRows) * h));
        cpu::for_each_row_block(task_first, task_rows, [&](int64_t first, int64_t rows) {
          for (int64_t i = 0; i < n; ++i) {
            auto [dout, ld] = tier_rows(dsp, dgp, i, n, h, first);
            scalar_t* sums = sums_partial.data_ptr<scalar_t>() + (task * n + i) * 3 * h;
            norm_backward_kernel(dout, ld, rows, h, g[i], xh + (i * M + first) * h, rs + i * M + first, dy.data(),
                                 sums);
            // dW_i^T [d, h] += x_i^T [d, rows] . dy [rows, h]
            cpu::gemm<scalar_t>('N', 'T', d, h, rows, xp + first * sx + i * d, sx, dy.data(), h, 1,
                                dw_partial.data_ptr<scalar_t>() + (task * n + i) * h * d, d);
          }
        });
      });
    });
    const torch::Tensor dw = dw_partial.sum(0), sums = sums_partial.sum(0);  // [N, h, d], [N, 3, h]
    variable_list out(static_cast<size_t>(1 + 4 * n + 1));
    for (int64_t i = 0; i < n; ++i) {
      out[1 + i] = dw[i];
      out[1 + n + i] = sums[i][0];
      out[1 + 2 * n + i] = sums[i][1];
      out[1 + 3 * n + i] = sums[i][2];
    }
    return out;
  }
};

bool parameters_fit(const torch::Tensor& tiers, const LinearLnParameters& p) {
  const size_t n = static_cast<size_t>(tiers.size(1));
  if (n < 1 || p.weight.size() != n || p.bias.size() != n || p.gamma.size() != n || p.beta.size() != n) return false;
  const int64_t h = p.weight[0].size(0), d = tiers.size(2);
  for (size_t i = 0; i < n; ++i) {
    for (const auto* t : {&p.weight[i], &p.bias[i], &p.gamma[i], &p.beta[i]})
      if (!t->is_contiguous() || t->device() != tiers.device() || t->scalar_type() != tiers.scalar_type()) return false;
    if (p.weight[i].dim() != 2 || p.weight[i].size(0) != h || p.weight[i].size(1) != d) return false;
    for (const auto* t : {&p.bias[i], &p.gamma[i], &p.beta[i]})
      if (t->dim() != 1 || t->size(0) != h) return false;
  }
  return true;
}

}  // namespace

bool tier_projections_kernel_applies(const torch::Tensor& tiers, const LinearLnParameters& p) {
  if (!tiers.defined() || tiers.dim() != 3 || !tiers.device().is_cpu() || tiers.requires_grad()) return false;
  const auto type = tiers.scalar_type();
  const bool blas = (type == torch::kFloat && cpu::blas_gemm<float>()) || (type == torch::kDouble && cpu::blas_gemm<double>());
  return blas && tiers.stride(2) == 1 && tiers.stride(1) == tiers.size(2) && parameters_fit(tiers, p);
}

std::array<torch::Tensor, 2> project_tiers_linear_ln(const torch::Tensor& tiers, const LinearLnParameters& p) {
  TORCH_CHECK(tier_projections_kernel_applies(tiers, p), "project_tiers_linear_ln: the kernel does not apply");
  // As TensorLists: autograd records the tensors of those as inputs (not of vectors).
  using List = torch::TensorList;
  auto out = TierProjectionsLinearLn::apply(tiers, List(p.weight), List(p.bias), List(p.gamma), List(p.beta), p.eps);
  return {out[0], out[1]};
}

}  // namespace sherl
