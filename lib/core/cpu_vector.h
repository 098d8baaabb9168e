#pragma once
// Small building blocks of the hand-written CPU kernels (sherl/kernels/tier_aggregation_cpu.cpp,
// sherl/kernels/tier_projections.cpp, lib/model/input_attention.cpp): loops over one row of h
// values that the compiler vectorises.

// A kernel is built twice where the compiler can, for any x86-64 and for x86-64-v3 (AVX2,
// FMA), and the loader picks one: the loops over rows then run on 256-bit vectors where
// there are some. (Not "arch=haswell": GCC dispatches that clone on the CPU model, so it
// never ran on AMD processors; x86-64-v3 is dispatched on the instruction sets.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SHERL_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SHERL_VECTOR_CLONES
#endif
// Everything a clone calls must be inlined into it to be compiled for its target.
#define SHERL_INLINE inline __attribute__((always_inline))

#include <cstdint>

namespace sherl::cpu {

// Eight partial sums let the compiler vectorise the reduction without reassociating it.
template <typename T>
SHERL_INLINE T dot(const T* a, const T* b, int64_t n) {
  constexpr int kLanes = 8;
  T partial[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += a[k + l] * b[k + l];
  T sum = 0;
  for (; k < n; ++k) sum += a[k] * b[k];
  for (int l = 0; l < kLanes; ++l) sum += partial[l];
  return sum;
}

template <typename T>
SHERL_INLINE T sum(const T* a, int64_t n) {
  constexpr int kLanes = 8;
  T partial[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += a[k + l];
  T total = 0;
  for (; k < n; ++k) total += a[k];
  for (int l = 0; l < kLanes; ++l) total += partial[l];
  return total;
}

// y += alpha x
template <typename T>
SHERL_INLINE void axpy(T alpha, const T* x, T* y, int64_t n) {
  for (int64_t k = 0; k < n; ++k) y[k] += alpha * x[k];
}

}  // namespace sherl::cpu
