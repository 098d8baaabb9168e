#pragma once
// Command-line parsing shared by the tools (header-only: only tools/ link CLI11).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

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

// The items of comma lists (each occurrence of a repeatable option is one list). Unlike
// CLI11's delimiter, which drops empty items, an empty item is kept, for comma_list_of to
// refuse: "--seed 1,,2" is a typo, not the list 1,2.
inline std::vector<std::string> comma_items(const std::vector<std::string>& lists) {
  std::vector<std::string> items;
  for (const std::string& list : lists) {
    size_t start = 0;
    while (true) {
      size_t comma = list.find(',', start);
      items.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return items;
}

// A check that every item of a comma list reads as a T (and is one of `choices`, when
// given), with a one-line message naming the item.
template <typename T>
inline CLI::Validator comma_list_of(std::vector<std::string> choices = {}) {
  return CLI::Validator(
      [choices](std::string& value) -> std::string {
        for (std::string item : comma_items({value})) {
          T v{};
          if (item.empty()) return "an empty item in the list '" + value + "'";
          if (!CLI::detail::lexical_cast(item, v))
            return "'" + item + (std::is_integral<T>::value ? "' is not an integer" : "' is not a number");
          if (!choices.empty() && std::find(choices.begin(), choices.end(), item) == choices.end())
            return "'" + item + "' is not one of " + CLI::detail::join(choices, ", ");
        }
        return std::string();
      },
      "LIST", "");
}

// The values of comma lists that comma_list_of<T> checked.
template <typename T>
inline std::vector<T> comma_list_values(const std::vector<std::string>& lists) {
  std::vector<T> values;
  for (const std::string& item : comma_items(lists)) {
    T v{};
    CLI::detail::lexical_cast(item, v);
    values.push_back(v);
  }
  return values;
}

}  // namespace sherl
