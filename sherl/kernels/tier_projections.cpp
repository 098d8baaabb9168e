#include "sherl/kernels/tier_projections.h"

#include <type_traits>

#include "lib/core/cpu_vector.h"
#include "lib/core/float16.h"
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

// Columns [c0, c0 + columns) of tier i's rows [first, first + rows) of x [M, N, d] (row
// stride sx) as a matrix of T with its leading dimension: x itself, or float16 tiers
// converted into `staging` (rows x columns).
template <typename T>
std::pair<const T*, int64_t> tier_block(const torch::Tensor& x, int64_t i, int64_t first, int64_t rows, int64_t c0,
                                        int64_t columns, std::vector<T>& staging) {
  const int64_t sx = x.stride(0), at = first * sx + i * x.size(2) + c0;
  if (x.scalar_type() != torch::kFloat16) return {x.data_ptr<T>() + at, sx};
  if constexpr (std::is_same_v<T, float>) {
    staging.resize(static_cast<size_t>(rows * columns));
    const c10::Half* src = x.data_ptr<c10::Half>() + at;
    for (int64_t r = 0; r < rows; ++r) half_to_float(src + r * sx, staging.data() + r * columns, columns);
    return {staging.data(), columns};
  }
  TORCH_CHECK(false, "project_tiers_linear_ln: float16 tiers need float32 parameters");
}

// The columns of a weight gradient that one task of the backward pass computes over every
// row: few enough that N x d / kGradColumns tasks keep the threads busy, many enough for
// efficient products.
constexpr int64_t kGradColumns = 128;

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
    const auto options = weight[0].options();  // float16 tiers give float32 outputs
    torch::Tensor shallow = torch::empty({M, n - 1, h}, options), guide = torch::empty({M, h}, options);
    torch::Tensor xhat = torch::empty({n, M, h}, options), rstd = torch::empty({n, M}, options);
    AT_DISPATCH_FLOATING_TYPES(weight[0].scalar_type(), "sherl::project_tiers_linear_ln", [&] {
      const auto w = pointers<scalar_t>(weight.vec()), b = pointers<scalar_t>(bias.vec());
      const auto g = pointers<scalar_t>(gamma.vec()), be = pointers<scalar_t>(beta.vec());
      scalar_t *sp = shallow.data_ptr<scalar_t>(), *gp = guide.data_ptr<scalar_t>();
      scalar_t *xh = xhat.data_ptr<scalar_t>(), *rs = rstd.data_ptr<scalar_t>();
      cpu::for_each_task(M, tasks, [&](int64_t, int64_t task_first, int64_t task_rows) {
        std::vector<scalar_t> staging;
        cpu::for_each_row_block(task_first, task_rows, [&](int64_t first, int64_t rows) {
          for (int64_t i = 0; i < n; ++i) {
            auto [y, ld] = tier_rows(sp, gp, i, n, h, first);
            for (int64_t r = 0; r < rows; ++r) std::copy(b[i], b[i] + h, y + r * ld);
            // y^T [h, rows] = W_i [h, d] . x_i^T [d, rows], added to the bias
            auto [xi, lx] = tier_block<scalar_t>(x, i, first, rows, 0, d, staging);
            cpu::gemm<scalar_t>('T', 'N', h, rows, d, w[i], d, xi, lx, 1, y, ld);
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

  // In two passes, so that no thread holds a weight gradient of its own: first, by rows,
  // each LayerNorm's backward, whose input gradient dy replaces xhat (no longer needed);
  // then, by (tier, block of kGradColumns columns), dW_i = dy_i^T x_i over every row.
  // The weight gradients then take no scratch memory and do not depend on the thread
  // count; the [dbias | dgamma | dbeta] sums (N x 3 x h) are summed per task as before.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // xhat is overwritten below: a second backward through this node (retain_graph) would
    // read gradients as normalised values.
    TORCH_CHECK(!ctx->saved_data.count("backward_done"),
                "project_tiers_linear_ln: its backward pass runs once (it reuses the saved values)");
    ctx->saved_data["backward_done"] = true;
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &rstd = saved[2];
    torch::Tensor dy = saved[1];  // xhat [N, M, h], overwritten by dy
    const std::vector<torch::Tensor> gamma(saved.begin() + 3, saved.end());
    const torch::Tensor dshallow = grads[0].contiguous(), dguide = grads[1].contiguous();
    const int64_t M = x.size(0), n = x.size(1), d = x.size(2), h = dy.size(2), tasks = cpu::task_count(M);
    const auto options = gamma[0].options();
    torch::Tensor dw = M > 0 ? torch::empty({n, h, d}, options) : torch::zeros({n, h, d}, options);
    torch::Tensor sums_partial = torch::zeros({tasks, n, 3, h}, options);
    AT_DISPATCH_FLOATING_TYPES(gamma[0].scalar_type(), "sherl::project_tiers_linear_ln_backward", [&] {
      const auto g = pointers<scalar_t>(gamma);
      const scalar_t *dsp = dshallow.data_ptr<scalar_t>(), *dgp = dguide.data_ptr<scalar_t>();
      const scalar_t* rs = rstd.data_ptr<scalar_t>();
      scalar_t* dyp = dy.data_ptr<scalar_t>();
      cpu::for_each_task(M, tasks, [&](int64_t task, int64_t task_first, int64_t task_rows) {
        std::vector<scalar_t> block(static_cast<size_t>(std::min(task_rows, cpu::kBlockRows) * h));
        cpu::for_each_row_block(task_first, task_rows, [&](int64_t first, int64_t rows) {
          for (int64_t i = 0; i < n; ++i) {
            auto [dout, ld] = tier_rows(dsp, dgp, i, n, h, first);
            scalar_t* sums = sums_partial.data_ptr<scalar_t>() + (task * n + i) * 3 * h;
            scalar_t* xhat_rows = dyp + (i * M + first) * h;
            norm_backward_kernel(dout, ld, rows, h, g[i], xhat_rows, rs + i * M + first, block.data(), sums);
            std::copy(block.begin(), block.begin() + rows * h, xhat_rows);
          }
        });
      });
      const int64_t column_blocks = (d + kGradColumns - 1) / kGradColumns;
      at::parallel_for(0, n * column_blocks, 1, [&](int64_t t0, int64_t t1) {
        std::vector<scalar_t> staging;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t i = t / column_blocks, c0 = (t % column_blocks) * kGradColumns;
          const int64_t columns = std::min(kGradColumns, d - c0);
          scalar_t* dw_i = dw.data_ptr<scalar_t>() + i * h * d + c0;
          // dW_i^T [columns, h] (+)= x_i^T [columns, rows] . dy_i [rows, h], block by block of rows
          for (int64_t first = 0; first < M; first += cpu::kBlockRows) {
            const int64_t rows = std::min(cpu::kBlockRows, M - first);
            auto [xi, lx] = tier_block<scalar_t>(x, i, first, rows, c0, columns, staging);
            cpu::gemm<scalar_t>('N', 'T', columns, h, rows, xi, lx, dyp + (i * M + first) * h, h,
                                first == 0 ? 0 : 1, dw_i, d);
          }
        }
      });
    });
    const torch::Tensor sums = sums_partial.sum(0);  // [N, 3, h]
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
      if (!t->is_contiguous() || t->device() != tiers.device() || t->scalar_type() != p.weight[0].scalar_type())
        return false;
    if (p.weight[i].dim() != 2 || p.weight[i].size(0) != h || p.weight[i].size(1) != d) return false;
    for (const auto* t : {&p.bias[i], &p.gamma[i], &p.beta[i]})
      if (t->dim() != 1 || t->size(0) != h) return false;
  }
  return true;
}

}  // namespace

bool tier_projections_kernel_applies(const torch::Tensor& tiers, const LinearLnParameters& p) {
  if (!tiers.defined() || tiers.dim() != 3 || !tiers.device().is_cpu() || tiers.requires_grad()) return false;
  if (p.weight.empty() || !p.weight[0].defined()) return false;
  // The parameters' dtype computes; float16 tiers are read by float32 parameters.
  const auto type = p.weight[0].scalar_type();
  const bool tiers_fit = tiers.scalar_type() == type || (tiers.scalar_type() == torch::kFloat16 && type == torch::kFloat);
  const bool blas = (type == torch::kFloat && cpu::blas_gemm<float>()) || (type == torch::kDouble && cpu::blas_gemm<double>());
  return tiers_fit && blas && tiers.stride(2) == 1 && tiers.stride(1) == tiers.size(2) && parameters_fit(tiers, p);
}

std::array<torch::Tensor, 2> project_tiers_linear_ln(const torch::Tensor& tiers, const LinearLnParameters& p) {
  TORCH_CHECK(tier_projections_kernel_applies(tiers, p), "project_tiers_linear_ln: the kernel does not apply");
  // As TensorLists: autograd records the tensors of those as inputs (not of vectors).
  using List = torch::TensorList;
  auto out = TierProjectionsLinearLn::apply(tiers, List(p.weight), List(p.bias), List(p.gamma), List(p.beta), p.eps);
  return {out[0], out[1]};
}

}  // namespace sherl
