#pragma once
// Command-line parsing shared by the tools (header-only: only tools/ link CLI11).
#include <CLI/CLI.hpp>

#include <string>

namespace sherl {

// Parses argv into `app`. Returns -1 when the tool should go on; otherwise the exit status
// to return at once: 0 after --help / --version, 2 for a usage error (CLI11 prints the
// message). Every sherl tool exits 2 on usage errors, whatever CLI11's own codes are.
inline int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
}

// --device and --threads, which every tool that computes takes.
struct ComputeOptions {
  std::string device = "auto";
  int threads = 0;
};

inline void add_compute_options(CLI::App& app, ComputeOptions& o) {
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads of LibTorch (0: OMP_NUM_THREADS, else one per core)");
}

// A check for an integer option that must be at least `min`, with a one-line message
// ("--limit: must be at least 1, not 0").
inline CLI::Validator at_least(long long min) {
  return CLI::Validator(
      [min](std::string& value) -> std::string {
        long long v = 0;
        if (!CLI::detail::lexical_cast(value, v)) return "expected an integer, not " + value;
        return v < min ? "must be at least " + std::to_string(min) + ", not " + value : std::string();
      },
      "", "at least " + std::to_string(min));
}

}  // namespace sherl
