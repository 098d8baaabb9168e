#include "lib/core/process.h"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace sherl {
namespace {

void on_terminating_signal(int sig) {
  remove_registered_temp_files_signal_safe();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Tensors of a few MiB are allocated and freed every step: keep freed memory in the heap
// instead of returning it to the kernel and faulting fresh zeroed pages in each time
// (their share of a training run: bench/README.md).
void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest; above it memory is mmap'd
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

std::string what_of(const std::exception& e) { return e.what(); }
ExceptionMessage exception_message = what_of;

}  // namespace

void prepare_process() {
  keep_freed_memory();
  std::signal(SIGINT, on_terminating_signal);
  std::signal(SIGTERM, on_terminating_signal);
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

void set_exception_message(ExceptionMessage message) { exception_message = message ? message : what_of; }

int run_tool(const char* tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << exception_message(e) << "\n";
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
