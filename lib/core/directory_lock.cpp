#include "lib/core/directory_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace sherl {

DirectoryLock::DirectoryLock(const std::string& dir, const std::string& what, int64_t first, int64_t count) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw error_at(dir, "cannot create the directory: " + ec.message());
  const std::string path = (fs::path(dir) / kFileName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw error_at(path, std::string("cannot open the lock file: ") + std::strerror(errno));
  struct flock range {};
  range.l_type = F_WRLCK;
  range.l_whence = SEEK_SET;
  range.l_start = static_cast<off_t>(first);
  range.l_len = static_cast<off_t>(count);
  if (::fcntl(fd_, F_SETLK, &range) == 0) return;
  int err = errno;
  struct flock holder = range;
  std::string pid;
  if (::fcntl(fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK && holder.l_pid > 0)
    pid = " (pid " + std::to_string(holder.l_pid) + ")";
  ::close(fd_);
  fd_ = -1;
  if (err == EACCES || err == EAGAIN)
    throw error_at(dir, "in use by another " + what + pid + "; wait for it to end, or use another directory");
  throw error_at(path, std::string("cannot lock: ") + std::strerror(err));
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace sherl
