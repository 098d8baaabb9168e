#pragma once
// What the row-parallel CPU kernels (row_parallel_linear, tier_projections, mtsa_output)
// share: the BLAS's single-threaded sgemm_/dgemm_, found at run time, and rows split into
// tasks fixed in advance from LibTorch's thread count, run on LibTorch's OpenMP threads.
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>

namespace sherl::cpu {

// Fortran BLAS, column-major: C = alpha op(A) op(B) + beta C.
template <typename T>
using GemmFn = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                        const T* alpha, const T* a, const int* lda, const T* b, const int* ldb, const T* beta, T* c,
                        const int* ldc);

// sgemm_ / dgemm_ of the process's BLAS, or null where none is exported (LibTorch with MKL
// linked in statically).
template <typename T>
GemmFn<T> blas_gemm();
template <>
inline GemmFn<float> blas_gemm<float>() {
  static const auto fn = reinterpret_cast<GemmFn<float>>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return fn;
}
template <>
inline GemmFn<double> blas_gemm<double>() {
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
inline int64_t task_count(int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows / kMinRowsPerTask));
}
inline int64_t task_begin(int64_t task, int64_t tasks, int64_t rows) { return rows * task / tasks; }

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

// A task's rows in blocks small enough that one block's products, normalised values and
// gradients stay in the core's cache between the steps on them (the thin products of the
// MTSA ran at 35-45 GFLOP/s here over a few thousand rows, at 50-70 over 256).
constexpr int64_t kBlockRows = 256;

template <typename Body>
void for_each_row_block(int64_t first, int64_t rows, const Body& body) {
  for (int64_t b = first; b < first + rows; b += kBlockRows) body(b, std::min(kBlockRows, first + rows - b));
}

}  // namespace sherl::cpu
