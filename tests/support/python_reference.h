#pragma once
// Reference data that a Python script of tests/python writes (/usr/bin/python3 SCRIPT OUTDIR),
// generated once per version of the scripts (the one run and the modules it may import from
// tests/python): ctest runs each test binary in its own process,
// and importing torch takes seconds. It is written into a temporary directory and then
// renamed to a name keyed by the script's digest, so that concurrent tests never see half.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "lib/core/hash.h"

namespace sherl::test {

// The directory holding what tests/python/<script> wrote; fails the test when it failed.
inline std::filesystem::path python_reference(const std::string& script_name) {
  namespace fs = std::filesystem;
  const std::string script = std::string(SHERL_SOURCE_DIR) + "/tests/python/" + script_name;
  const std::string stem = fs::path(script_name).stem().string();
  // The script's name and every module beside it, in name order: a change to a helper module
  // (clip_reference.py for model_reference.py, say) makes new reference data too.
  std::vector<std::string> modules;
  for (const auto& entry : fs::directory_iterator(fs::path(script).parent_path()))
    if (entry.path().extension() == ".py") modules.push_back(entry.path().string());
  std::sort(modules.begin(), modules.end());
  std::string digests = script_name;
  for (const auto& module : modules) digests += "\n" + fs::path(module).filename().string() + " " + sherl::sha256_file(module);
  fs::path dir = fs::path(SHERL_BINARY_DIR) / "tests" / (stem + "-" + sherl::sha256_hex(digests).substr(0, 16));
  if (fs::exists(dir)) return dir;
  fs::path tmp = dir.string() + ".tmp." + std::to_string(::getpid());
  fs::create_directories(tmp);
  std::string cmd = "/usr/bin/python3 " + script + " " + tmp.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::error_code ec;
  fs::rename(tmp, dir, ec);  // fails harmlessly when another test process won the race
  if (ec) fs::remove_all(tmp);
  EXPECT_TRUE(fs::exists(dir)) << dir;
  return dir;
}

}  // namespace sherl::test
