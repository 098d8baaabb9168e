#include "lib/core/runtime.h"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
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

}  // namespace

void prepare_process(int argc, char** argv) {
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("SHERL_NO_REEXEC")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed (no /proc?): carry on with the default policy.
  }
  std::signal(SIGINT, on_terminating_signal);
  std::signal(SIGTERM, on_terminating_signal);
}

void set_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("--device " + spec + ": CUDA is not available (" +
                  std::string(torch::hasCUDA() ? "no visible CUDA device; check CUDA_VISIBLE_DEVICES"
                                               : "this LibTorch was built without CUDA") + ")");
    int index = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':') throw Error("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        throw Error("--device " + spec + ": expected cuda:N with N a device number");
      }
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
      throw Error("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s) visible");
    return torch::Device(torch::kCUDA, index);
  }
  throw Error("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
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
