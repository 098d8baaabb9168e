#include "lib/core/runtime.h"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <algorithm>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace sherl {
namespace {

void on_terminating_signal(int sig) {
  remove_registered_temp_files_signal_safe();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

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

// Tensors of a few MiB are allocated and freed every step: keep freed memory in the heap
// instead of returning it to the kernel and faulting fresh zeroed pages in each time
// (their share of a training run: bench/README.md).
void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest; above it memory is mmap'd
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

void prepare_process() {
  keep_freed_memory();
  std::signal(SIGINT, on_terminating_signal);
  std::signal(SIGTERM, on_terminating_signal);
}

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

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

int64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

int run_tool(const char* tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  } catch (const c10::Error& e) {
    std::cerr << tool << ": error: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  }
  return 1;
}

Progress::Progress(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)), total_(total), enabled_(!quiet && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::advance(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(250) && done_ < total_) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? done_ / secs : 0;
  std::fprintf(stderr, "\r%s %lld/%lld (%.0f/s", label_.c_str(), static_cast<long long>(done_),
               static_cast<long long>(total_), rate);
  if (rate > 0 && total_ > done_) std::fprintf(stderr, ", ETA %.0fs", (total_ - done_) / rate);
  std::fprintf(stderr, ")   ");
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fprintf(stderr, "\n");
}

}  // namespace sherl
