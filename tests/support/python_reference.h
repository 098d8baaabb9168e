#pragma once
// Reference data that a Python script of tests/python writes (/usr/bin/python3 SCRIPT OUTDIR),
// generated once per version of the script: ctest runs each test binary in its own process,
// and importing torch takes seconds. It is written into a temporary directory and then
// renamed to a name keyed by the script's digest, so that concurrent tests never see half.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "lib/core/hash.h"

namespace sherl::test {

// The directory holding what tests/python/<script> wrote; fails the test when it failed.
inline std::filesystem::path python_reference(const std::string& script_name) {
  namespace fs = std::filesystem;
  const std::string script = std::string(SHERL_SOURCE_DIR) + "/tests/python/" + script_name;
  const std::string stem = fs::path(script_name).stem().string();
  fs::path dir = fs::path(SHERL_BINARY_DIR) / "tests" / (stem + "-" + sherl::sha256_file(script).substr(0, 16));
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
