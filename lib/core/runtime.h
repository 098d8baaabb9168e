#pragma once
// Process-level concerns shared by every tool: the OpenMP wait policy, threads,
// signals, progress lines and peak memory.
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <string>

namespace sherl {

// Call first in main(): tells malloc to keep freed memory for reuse, and installs
// SIGINT/SIGTERM handlers that remove registered temporaries and then die by the signal
// (exit status 130/143 as seen by the shell).
void prepare_process();

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

std::string command_line(int argc, char** argv);
int64_t peak_rss_bytes();
std::string format_bytes(double bytes);

// Runs a tool's body: prints sherl::Error / c10::Error as "<tool>: error: <message>" on
// stderr and returns 1, so that no exception escapes as an abort or a stack dump.
int run_tool(const char* tool, const std::function<int()>& body);

// A progress line on stderr ("\r<label> 1200/5000 (850/s, ETA 4s)"), only when stderr is a
// terminal and not quiet; updates at most a few times per second.
class Progress {
 public:
  Progress(std::string label, int64_t total, bool quiet);
  void advance(int64_t n);
  void finish();

 private:
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace sherl
