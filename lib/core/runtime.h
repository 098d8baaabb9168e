#pragma once
// Process-level concerns of the tools that compute with LibTorch: the OpenMP wait policy and
// threads (the rest, which needs no LibTorch, is in process.h). Linking this also makes
// run_tool print a c10::Error without its backtrace.
#include <torch/torch.h>

#include <functional>

#include "lib/core/process.h"

namespace sherl {

// Call once the command line is parsed and compute follows (not for --help, --version or a
// usage error, which need no thread pools). LibTorch's OpenMP workers spin-wait by default
// and then fight OpenBLAS's own threads for the cores, and OpenBLAS's workers spin on
// sched_yield() between products (bench/README.md has the cost). libgomp and OpenBLAS read
// their settings only when they are loaded, so when OMP_WAIT_POLICY or
// OPENBLAS_THREAD_TIMEOUT is unset we set it (PASSIVE, 4) and re-exec ourselves once; a
// user's own setting is left alone, and SHERL_NO_REEXEC=1 turns this off.
void use_thread_pool_settings(char** argv);

// Sets LibTorch's intra-op threads; 0: OMP_NUM_THREADS when it is set, else one per CPU
// core this process may run on (LibTorch's own default here was 1).
void set_threads(int threads);

// Runs independent work items side by side on LibTorch's threads: threads / threads_each
// workers, each item on one of them (whichever is free) with threads_each of LibTorch's
// threads, so that an item's result depends on threads_each alone, not on how many items
// run. For computations too thin to keep every core busy alone, such as the points of a
// training grid. One worker runs the items on the calling thread.
struct SideBySide {
  int threads = 1;
  int threads_each = 0;  // 0: the calling thread's count (one worker)
  // Runs work(i) for i in [0, count); rethrows the first exception once all have stopped.
  void run(size_t count, const std::function<void(size_t)>& work) const;
};

}  // namespace sherl
