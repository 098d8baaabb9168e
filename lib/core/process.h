#pragma once
// Process-level concerns of every tool that need no LibTorch: signals, the error report of a
// tool's body, progress lines, elapsed time and peak memory. (runtime.h adds LibTorch's thread pools.)
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>

namespace sherl {

// Call first in main(): tells malloc to keep freed memory for reuse, and installs
// SIGINT/SIGTERM handlers that remove registered temporaries and then die by the signal
// (exit status 130/143 as seen by the shell).
void prepare_process();

std::string command_line(int argc, char** argv);
int64_t peak_rss_bytes();
std::string format_bytes(double bytes);

// Seconds elapsed since `start` (of the steady clock).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs a tool's body: prints any exception as "<tool>: error: <message>" on stderr and
// returns 1, so that no exception escapes as an abort or a stack dump.
int run_tool(const char* tool, const std::function<int()>& body);

// The one-line message run_tool prints for an exception other than sherl::Error. Libraries
// whose exceptions carry more than a message (LibTorch's c10::Error: a backtrace) install
// theirs; the default is what().
using ExceptionMessage = std::string (*)(const std::exception&);
void set_exception_message(ExceptionMessage message);

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
