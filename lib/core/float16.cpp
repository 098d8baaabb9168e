#include "lib/core/float16.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SHERL_HAVE_F16C_PATH 1
#endif

namespace sherl {
namespace {

void half_to_float_portable(const c10::Half* src, float* dst, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<float>(src[k]);
}

#ifdef SHERL_HAVE_F16C_PATH
__attribute__((target("avx,f16c"))) void half_to_float_f16c(const c10::Half* src, float* dst, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    _mm256_storeu_ps(dst + k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k))));
  for (; k < n; ++k) dst[k] = _cvtsh_ss(src[k].x);
}

bool cpu_has_f16c() {
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
}
#endif

}  // namespace

void half_to_float(const c10::Half* src, float* dst, int64_t n) {
#ifdef SHERL_HAVE_F16C_PATH
  if (cpu_has_f16c()) return half_to_float_f16c(src, dst, n);
#endif
  half_to_float_portable(src, dst, n);
}

torch::Tensor to_float32(const torch::Tensor& t) {
  if (t.scalar_type() != torch::kFloat16 || !t.device().is_cpu() || !t.is_contiguous()) return t.to(torch::kFloat32);
  torch::Tensor out = torch::empty(t.sizes(), torch::kFloat32);
  half_to_float(t.data_ptr<c10::Half>(), out.data_ptr<float>(), t.numel());
  return out;
}

torch::Tensor widen_half(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat16 ? to_float32(t) : t;
}

}  // namespace sherl
