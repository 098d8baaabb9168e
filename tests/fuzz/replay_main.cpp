// Runs committed fuzz inputs through the fuzz targets' entry points without libFuzzer, so
// that the default test suite (any compiler) keeps every fixed crash fixed.
//
//   fuzz_replay <tests/fuzz directory> [target ...]
//
// Reads every file of <dir>/corpus/<target>/ and <dir>/regressions/<target>/ (all targets
// when none is named). A crash or a broken invariant aborts; an exception other than the
// sherl::Error a target expects escapes and fails the run.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <tests/fuzz directory> [target ...]\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  std::vector<std::string> wanted(argv + 2, argv + argc);
  int targets = 0;
  for (const auto& target : sherl::fuzz::kTargets) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), target.name) == wanted.end()) continue;
    ++targets;
    std::vector<fs::path> inputs;
    for (const char* kind : {"corpus", "regressions"}) {
      fs::path dir = root / kind / target.name;
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) continue;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') inputs.push_back(e.path());
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
      std::fprintf(stderr, "%s: no inputs under %s/{corpus,regressions}/%s\n", argv[0], argv[1], target.name);
      return 1;
    }
    for (const auto& path : inputs) {
      std::ifstream in(path, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "%s: cannot read %s\n", argv[0], path.c_str());
        return 1;
      }
      std::fprintf(stderr, "%s: %s\n", target.name, path.filename().c_str());
      target.run(bytes.data(), bytes.size());
    }
    std::printf("%s: %zu inputs passed\n", target.name, inputs.size());
  }
  if (targets == 0 || (!wanted.empty() && targets != static_cast<int>(wanted.size()))) {
    std::fprintf(stderr, "%s: unknown target among the ones named\n", argv[0]);
    return 2;
  }
  return 0;
}
