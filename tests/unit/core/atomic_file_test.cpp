#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"

namespace fs = std::filesystem;

TEST(Hash, Sha256KnownVector) {
  EXPECT_EQ(sherl::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  auto dir = fs::temp_directory_path() / ("sherl-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto final_path = (dir / "out.txt").string();
  {
    sherl::AtomicFile f(final_path);
    std::ofstream(f.temp_path()) << "partial";
    EXPECT_TRUE(fs::exists(f.temp_path()));
  }
  EXPECT_FALSE(fs::exists(final_path));
  EXPECT_TRUE(fs::is_empty(dir));
  sherl::write_file_atomic(final_path, "done");
  EXPECT_EQ(sherl::read_file(final_path), "done");
  EXPECT_EQ(sherl::sha256_file(final_path), sherl::sha256_hex("done"));
  fs::remove_all(dir);
}

TEST(AtomicFile, ReadMissingNamesFile) {
  try {
    sherl::read_file("/nonexistent/x.json");
    FAIL();
  } catch (const sherl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.json"), std::string::npos);
  }
}
