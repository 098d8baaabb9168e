#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(AtomicFile, TempOwnerPid) {
  EXPECT_EQ(sherl::temp_owner_pid(".shard-00003.h5.tmp.4242"), 4242);
  EXPECT_EQ(sherl::temp_owner_pid(".stdin.tmp.17"), 17);
  EXPECT_EQ(sherl::temp_owner_pid("shard-00003.h5"), -1);
  EXPECT_EQ(sherl::temp_owner_pid(".x.tmp."), -1);
  EXPECT_EQ(sherl::temp_owner_pid(".x.tmp.12a"), -1);
  EXPECT_EQ(sherl::temp_owner_pid(sherl::temp_name_for("/d/manifest.json").substr(3)), ::getpid());
}

TEST(AtomicFile, RemovesOnlyTemporariesOfProcessesThatAreGone) {
  auto dir = fs::temp_directory_path() / ("sherl-orphans-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // A child that has exited (and been reaped): its pid names no running process.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  auto touch = [&](const std::string& name) { std::ofstream((dir / name).string()) << "x"; };
  const std::string dead = ".a.h5.tmp." + std::to_string(gone), dead_json = ".m.json.tmp." + std::to_string(gone);
  const std::string alive = ".b.h5.tmp." + std::to_string(::getppid()), own = ".c.h5.tmp." + std::to_string(::getpid());
  for (const auto& name : {dead, dead_json, alive, own, std::string("shard-00000.h5")}) touch(name);
  auto removed = sherl::remove_orphaned_temporaries(dir.string(), [](const std::string& n) {
    return n.find(".h5.") != std::string::npos;
  });
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], (dir / dead).string());
  EXPECT_TRUE(fs::exists(dir / dead_json));  // not selected
  EXPECT_TRUE(fs::exists(dir / alive));
  EXPECT_TRUE(fs::exists(dir / own));
  EXPECT_TRUE(fs::exists(dir / "shard-00000.h5"));
  EXPECT_EQ(sherl::remove_orphaned_temporaries(dir.string()).size(), 1u);  // all selected: the json one
  EXPECT_EQ(sherl::remove_orphaned_temporaries((dir / "missing").string()).size(), 0u);
  fs::remove_all(dir);
}
