#pragma once
// LayerNorm over rows of h values and its backward pass, as loops for the hand-written CPU
// kernels that fuse a LayerNorm with what comes before or after it (tier_projections,
// mtsa_output). Inline: each kernel compiles them into its own vector clones.
#include <cmath>
#include <cstdint>

#include "lib/core/cpu_vector.h"

namespace sherl::cpu {

// `rows` rows of h values from x (row stride ldx) to y (row stride ldy; y may be x):
// y = xhat * gamma + beta, keeping xhat [rows, h] and 1/sigma [rows] for the backward pass.
template <typename T>
SHERL_INLINE void norm_rows(const T* x, int64_t ldx, T* y, int64_t ldy, int64_t rows, int64_t h,
                            const T* __restrict gamma, const T* __restrict beta, T eps, T* __restrict xhat,
                            T* __restrict rstd) {
  for (int64_t r = 0; r < rows; ++r, x += ldx, y += ldy, xhat += h) {
    const T mean = sum(x, h) / T(h);
    for (int64_t k = 0; k < h; ++k) xhat[k] = x[k] - mean;
    const T inv = T(1) / std::sqrt(dot(xhat, xhat, h) / T(h) + eps);  // biased variance, as LayerNorm
    for (int64_t k = 0; k < h; ++k) {
      xhat[k] *= inv;
      y[k] = xhat[k] * gamma[k] + beta[k];
    }
    rstd[r] = inv;
  }
}

// The reverse of norm_rows, from the output's gradient g (row stride ld) to the input's
// gradient dx [rows, h], adding to sums = [sum of dx | dgamma | dbeta] (3 x h):
//   dxhat = g gamma,  dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
//   dgamma += g xhat,  dbeta += g.
// (The sum of dx over rows is the bias gradient of a product that feeds the LayerNorm.)
template <typename T>
SHERL_INLINE void norm_rows_backward(const T* __restrict g, int64_t ld, int64_t rows, int64_t h,
                                     const T* __restrict gamma, const T* __restrict xhat, const T* __restrict rstd,
                                     T* __restrict dx, T* __restrict sums) {
  T* __restrict dx_sum = sums;
  T* __restrict dgamma = sums + h;
  T* __restrict dbeta = sums + 2 * h;
  for (int64_t r = 0; r < rows; ++r, g += ld, xhat += h, dx += h) {
    for (int64_t k = 0; k < h; ++k) {
      dx[k] = g[k] * gamma[k];
      dgamma[k] += g[k] * xhat[k];
      dbeta[k] += g[k];
    }
    const T mean_dxhat = sum(dx, h) / T(h), mean_dxhat_xhat = dot(dx, xhat, h) / T(h);
    for (int64_t k = 0; k < h; ++k) {
      dx[k] = rstd[r] * (dx[k] - mean_dxhat - xhat[k] * mean_dxhat_xhat);
      dx_sum[k] += dx[k];
    }
  }
}

}  // namespace sherl::cpu
