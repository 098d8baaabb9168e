#include "lib/core/runtime.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

namespace sherl {
namespace {

// Thread-pool settings that libgomp and OpenBLAS read only when they are loaded.
struct EnvironmentDefault {
  const char* name;
  const char* value;
};
constexpr EnvironmentDefault kEnvironmentDefaults[] = {
    // LibTorch's OpenMP workers sleep instead of spinning while OpenBLAS computes.
    {"OMP_WAIT_POLICY", "PASSIVE"},
    // OpenBLAS's workers sleep after 2^4 cycles instead of 2^28 of sched_yield() between
    // matrix products (the yield path's share of a training run: bench/README.md).
    {"OPENBLAS_THREAD_TIMEOUT", "4"},
};

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string without_backtrace(const std::exception& e) {
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}
// Every tool that computes links this file, so run_tool learns LibTorch's errors there.
const bool kMessageInstalled = (set_exception_message(without_backtrace), true);

}  // namespace

void use_thread_pool_settings(char** argv) {
  if (std::getenv("SHERL_NO_REEXEC")) return;
  bool changed = false;
  for (const auto& d : kEnvironmentDefaults)
    if (!std::getenv(d.name)) {
      ::setenv(d.name, d.value, 1);
      changed = true;
    }
  if (changed) ::execv("/proc/self/exe", argv);  // on failure (no /proc?) carry on as we are
}

void set_threads(int threads) {
  if (threads == 0 && std::getenv("OMP_NUM_THREADS")) return;  // the user's choice, applied by LibTorch
  at::set_num_threads(threads > 0 ? threads : available_cores());
}

void SideBySide::run(size_t count, const std::function<void(size_t)>& work) const {
  const int before = at::get_num_threads();
  const int each = threads_each > 0 ? std::min(threads_each, std::max(1, threads)) : before;  // never more than all
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(1, threads / each)), count));
  if (workers <= 1) {
    // On this thread, with `each` threads for as long as the items run.
    if (each != before) at::set_num_threads(each);
    try {
      for (size_t i = 0; i < count; ++i) work(i);
    } catch (...) {
      if (each != before) at::set_num_threads(before);
      throw;
    }
    if (each != before) at::set_num_threads(before);
    return;
  }
  std::vector<std::exception_ptr> failures(count);  // by item: the first item's is rethrown
  std::vector<std::thread> pool;
  std::atomic<size_t> next{0};  // items go to whichever worker is free: unequal items balance
  for (int w = 0; w < workers; ++w)
    pool.emplace_back([&] {
      at::set_num_threads(each);  // this thread's pool (OpenMP: per thread)
      for (size_t i = next++; i < count; i = next++) {
        try {
          work(i);
        } catch (...) {
          failures[i] = std::current_exception();
        }
      }
    });
  for (std::thread& t : pool) t.join();
  for (auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
}

}  // namespace sherl
