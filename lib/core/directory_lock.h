#pragma once
// Advisory locks on the directories a tool writes (a shard set, a run directory), so that two
// processes never write one at the same time. The lock is an fcntl() record lock on a byte
// range of <dir>/.sherl-lock: the kernel releases it when the process ends, however it ends
// (no stale lock after SIGKILL or a crash), and it works across hosts on file systems that
// support POSIX locks (NFS with lockd, Lustre, GPFS). The file itself stays.
//
// POSIX record locks belong to the process: two locks of one process never conflict, and
// closing any descriptor of the file releases all of them. So a process holds at most one
// DirectoryLock per directory at a time (one is destroyed before the next is made).
#include <cstdint>
#include <string>

namespace sherl {

class DirectoryLock {
 public:
  // Locks bytes [first, first + count) of the lock file (count 0: the whole file), creating
  // `dir` when needed. Throws sherl::Error "<dir>: in use by another <what> (pid N) ..."
  // when another process holds an overlapping range. `what` names the holder for the message
  // ("sherl-train run", "sherl-extract of the same blocks").
  DirectoryLock(const std::string& dir, const std::string& what, int64_t first = 0, int64_t count = 0);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  static constexpr const char* kFileName = ".sherl-lock";

 private:
  int fd_ = -1;
};

}  // namespace sherl
