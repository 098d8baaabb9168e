#include "sherl/kernels/tier_aggregation_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lib/core/cpu_vector.h"

namespace sherl::cpu {
namespace {

constexpr double kCosineEps = 1e-8;  // added to the l2 norm, as the method (not clamped)
constexpr double kL1Eps = 1e-8;

template <typename T>
SHERL_INLINE T relu(T v) { return v > 0 ? v : T(0); }

// What both passes compute for one token: norms, the Gram of the unit vectors, r, the
// attention scores s, p = relu(s) / r and the L1 denominator.
template <typename T>
struct TokenState {
  std::vector<T> inv_norm, gram, r, s, p, wg;
  T l1 = 0;

  TokenState(int64_t m, int64_t h) : inv_norm(m), gram(m * m), r(m), s(m), p(m), wg(h) {}

  SHERL_INLINE void compute(const T* x, const T* g, const T* w, T c, bool real, int64_t m, int64_t h) {
    for (int64_t i = 0; i < m; ++i) inv_norm[i] = T(1) / (std::sqrt(dot(x + i * h, x + i * h, h)) + T(kCosineEps));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j <= i; ++j)
        gram[i * m + j] = gram[j * m + i] = dot(x + i * h, x + j * h, h) * inv_norm[i] * inv_norm[j];
    for (int64_t k = 0; k < h; ++k) wg[k] = w[k] * g[k];
    l1 = 0;
    for (int64_t i = 0; i < m; ++i) {
      T sum = 0;
      for (int64_t j = 0; j < m; ++j) sum += relu(gram[i * m + j]);
      r[i] = real ? sum : T(1);
      s[i] = dot(x + i * h, wg.data(), h) + c;
      p[i] = relu(s[i]) / r[i];
      l1 += std::abs(p[i]);
    }
    l1 += T(kL1Eps);
  }
};

template <typename T>
SHERL_INLINE void forward_range(const T* shallow, const T* guide, const T* w, T c, const bool* valid, T* z, T* attention,
                          T* redundancy, int64_t begin, int64_t end, int64_t m, int64_t h) {
  TokenState<T> st(m, h);
  for (int64_t p = begin; p < end; ++p) {
    const T* x = shallow + p * m * h;
    const T* g = guide + p * h;
    st.compute(x, g, w, c, valid == nullptr || valid[p], m, h);
    T* zp = z + p * h;
    std::copy(g, g + h, zp);
    for (int64_t i = 0; i < m; ++i) {
      const T a = st.p[i] / st.l1;
      attention[p * m + i] = a;
      redundancy[p * m + i] = st.r[i];
      axpy(a, x + i * h, zp, h);
    }
  }
}

// Reverse of forward_range for one token, step by step (names: d<v> = dLoss/d<v>):
//   z = g + sum a_i x_i          -> dx_i = a_i dz,  da_i = <dz, x_i>,  dg = dz
//   a_i = p_i / l1               -> dp_i = da_i / l1 - sign(p_i) sum_k da_k p_k / l1^2
//   p_i = relu(s_i) / r_i        -> ds_i = [s_i > 0] dp_i / r_i,  dr_i = -dp_i p_i / r_i
//   s_i = <x_i, w * g> + c       -> dx_i += ds_i w*g,  dg += ds_i w*x_i,  dw += ds_i x_i*g,  dc += ds_i
//   r_i = sum_j relu(G_ij)       -> dG_ij = [G_ij > 0] dr_i (padding tokens: r is constant)
//   G_ij = <u_i, u_j>            -> du_i = sum_j (dG_ij + dG_ji) u_j
//   u_i = x_i / (|x_i| + eps)    -> dx_i += du_i / (|x_i| + eps) - <du_i, x_i> x_i / ((|x_i| + eps)^2 |x_i|)
template <typename T>
SHERL_INLINE void backward_range(const T* dz, const T* shallow, const T* guide, const T* w, T c, const bool* valid,
                           T* dshallow, T* dguide, T* dw, T* dc, int64_t begin, int64_t end, int64_t m, int64_t h) {
  TokenState<T> st(m, h);
  std::vector<T> da(m), dp(m), dr(m), du(h);
  for (int64_t p = begin; p < end; ++p) {
    const T* x = shallow + p * m * h;
    const T* g = guide + p * h;
    const T* dzp = dz + p * h;
    T* dx = dshallow + p * m * h;
    T* dg = dguide + p * h;
    const bool real = valid == nullptr || valid[p];
    st.compute(x, g, w, c, real, m, h);

    std::copy(dzp, dzp + h, dg);
    T weighted = 0;
    for (int64_t i = 0; i < m; ++i) {
      const T a = st.p[i] / st.l1;
      for (int64_t k = 0; k < h; ++k) dx[i * h + k] = a * dzp[k];
      da[i] = dot(dzp, x + i * h, h);
      weighted += da[i] * st.p[i];
    }
    for (int64_t i = 0; i < m; ++i) {
      const T sign = st.p[i] > 0 ? T(1) : (st.p[i] < 0 ? T(-1) : T(0));
      dp[i] = da[i] / st.l1 - sign * weighted / (st.l1 * st.l1);
      const T ds = st.s[i] > 0 ? dp[i] / st.r[i] : T(0);
      dr[i] = real ? -dp[i] * st.p[i] / st.r[i] : T(0);
      if (ds == 0) continue;
      const T* xi = x + i * h;
      axpy(ds, st.wg.data(), dx + i * h, h);
      for (int64_t k = 0; k < h; ++k) {
        dg[k] += ds * w[k] * xi[k];
        dw[k] += ds * xi[k] * g[k];
      }
      *dc += ds;
    }
    if (!real) continue;
    for (int64_t i = 0; i < m; ++i) {
      std::fill(du.begin(), du.end(), T(0));
      for (int64_t j = 0; j < m; ++j) {
        const T coefficient = st.gram[i * m + j] > 0 ? dr[i] + dr[j] : T(0);
        if (coefficient != 0) axpy(coefficient * st.inv_norm[j], x + j * h, du.data(), h);
      }
      const T* xi = x + i * h;
      const T inv = st.inv_norm[i];
      axpy(inv, du.data(), dx + i * h, h);
      const T norm = T(1) / inv - T(kCosineEps);
      if (norm > 0) axpy(-dot(du.data(), xi, h) * inv * inv / norm, xi, dx + i * h, h);
    }
  }
}

SHERL_VECTOR_CLONES void forward_f32(const float* x, const float* g, const float* w, float c, const bool* valid,
                                     float* z, float* a, float* r, int64_t b, int64_t e, int64_t m, int64_t h) {
  forward_range(x, g, w, c, valid, z, a, r, b, e, m, h);
}
SHERL_VECTOR_CLONES void forward_f64(const double* x, const double* g, const double* w, double c, const bool* valid,
                                     double* z, double* a, double* r, int64_t b, int64_t e, int64_t m, int64_t h) {
  forward_range(x, g, w, c, valid, z, a, r, b, e, m, h);
}
SHERL_VECTOR_CLONES void backward_f32(const float* dz, const float* x, const float* g, const float* w, float c,
                                      const bool* valid, float* dx, float* dg, float* dw, float* dc, int64_t b,
                                      int64_t e, int64_t m, int64_t h) {
  backward_range(dz, x, g, w, c, valid, dx, dg, dw, dc, b, e, m, h);
}
SHERL_VECTOR_CLONES void backward_f64(const double* dz, const double* x, const double* g, const double* w, double c,
                                      const bool* valid, double* dx, double* dg, double* dw, double* dc, int64_t b,
                                      int64_t e, int64_t m, int64_t h) {
  backward_range(dz, x, g, w, c, valid, dx, dg, dw, dc, b, e, m, h);
}

void forward_kernel(const float* x, const float* g, const float* w, float c, const bool* valid, float* z, float* a,
                    float* r, int64_t b, int64_t e, int64_t m, int64_t h) {
  forward_f32(x, g, w, c, valid, z, a, r, b, e, m, h);
}
void forward_kernel(const double* x, const double* g, const double* w, double c, const bool* valid, double* z,
                    double* a, double* r, int64_t b, int64_t e, int64_t m, int64_t h) {
  forward_f64(x, g, w, c, valid, z, a, r, b, e, m, h);
}
void backward_kernel(const float* dz, const float* x, const float* g, const float* w, float c, const bool* valid,
                     float* dx, float* dg, float* dw, float* dc, int64_t b, int64_t e, int64_t m, int64_t h) {
  backward_f32(dz, x, g, w, c, valid, dx, dg, dw, dc, b, e, m, h);
}
void backward_kernel(const double* dz, const double* x, const double* g, const double* w, double c,
                     const bool* valid, double* dx, double* dg, double* dw, double* dc, int64_t b, int64_t e,
                     int64_t m, int64_t h) {
  backward_f64(dz, x, g, w, c, valid, dx, dg, dw, dc, b, e, m, h);
}

constexpr int64_t kGrain = 64;  // tokens per parallel task

const bool* valid_data(const torch::Tensor& valid) { return valid.defined() ? valid.data_ptr<bool>() : nullptr; }

}  // namespace

std::array<torch::Tensor, 3> aggregate_tiers_forward(const torch::Tensor& shallow, const torch::Tensor& guide,
                                                     const torch::Tensor& weight, const torch::Tensor& bias,
                                                     const torch::Tensor& valid) {
  const int64_t tokens = shallow.size(0), m = shallow.size(1), h = shallow.size(2);
  torch::Tensor z = torch::empty({tokens, h}, shallow.options());
  torch::Tensor attention = torch::empty({tokens, m}, shallow.options());
  torch::Tensor redundancy = torch::empty({tokens, m}, shallow.options());
  AT_DISPATCH_FLOATING_TYPES(shallow.scalar_type(), "sherl::aggregate_tiers_forward", [&] {
    const scalar_t c = bias.item<scalar_t>();
    at::parallel_for(0, tokens, kGrain, [&](int64_t b, int64_t e) {
      forward_kernel(shallow.data_ptr<scalar_t>(), guide.data_ptr<scalar_t>(), weight.data_ptr<scalar_t>(), c,
                     valid_data(valid), z.data_ptr<scalar_t>(), attention.data_ptr<scalar_t>(),
                     redundancy.data_ptr<scalar_t>(), b, e, m, h);
    });
  });
  return {z, attention, redundancy};
}

std::array<torch::Tensor, 4> aggregate_tiers_backward(const torch::Tensor& dz, const torch::Tensor& shallow,
                                                      const torch::Tensor& guide, const torch::Tensor& weight,
                                                      const torch::Tensor& bias, const torch::Tensor& valid) {
  const int64_t tokens = shallow.size(0), m = shallow.size(1), h = shallow.size(2);
  torch::Tensor dshallow = torch::empty_like(shallow), dguide = torch::empty_like(guide);
  // The weight and bias gradients sum over tokens: one row of partial sums per block of
  // tokens, blocks fixed in advance so that the result does not depend on scheduling.
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), tokens / kGrain));
  torch::Tensor partial = torch::zeros({blocks, h + 1}, shallow.options());
  AT_DISPATCH_FLOATING_TYPES(shallow.scalar_type(), "sherl::aggregate_tiers_backward", [&] {
    const scalar_t c = bias.item<scalar_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t block = b0; block < b1; ++block) {
        scalar_t* sums = partial.data_ptr<scalar_t>() + block * (h + 1);
        backward_kernel(dz.data_ptr<scalar_t>(), shallow.data_ptr<scalar_t>(), guide.data_ptr<scalar_t>(),
                        weight.data_ptr<scalar_t>(), c, valid_data(valid), dshallow.data_ptr<scalar_t>(),
                        dguide.data_ptr<scalar_t>(), sums, sums + h, tokens * block / blocks,
                        tokens * (block + 1) / blocks, m, h);
      }
    });
  });
  torch::Tensor total = partial.sum(0);
  return {dshallow, dguide, total.narrow(0, 0, h).clone(), total.narrow(0, h, 1).clone()};
}

}  // namespace sherl::cpu
