#include "lib/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "lib/core/error.h"

namespace sherl {
namespace {

// A fixed table so that the signal handler can walk it without allocating or locking.
constexpr int kMaxTemps = 64;
constexpr int kMaxPath = 4096;
struct TempSlot {
  std::atomic<bool> used{false};
  char path[kMaxPath];
};
std::array<TempSlot, kMaxTemps> g_temps;
std::mutex g_temps_mutex;

}  // namespace

std::string temp_name_for(const std::string& final_path) {
  std::filesystem::path p(final_path);
  std::string name = "." + p.filename().string() + ".tmp." + std::to_string(::getpid());
  return (p.parent_path() / name).string();
}

bool is_temp_name(const std::string& file_name) {
  return !file_name.empty() && file_name[0] == '.' && file_name.find(".tmp.") != std::string::npos;
}

long temp_owner_pid(const std::string& file_name) {
  if (!is_temp_name(file_name)) return -1;
  std::string digits = file_name.substr(file_name.rfind(".tmp.") + 5);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(digits);
}

std::vector<std::string> remove_orphaned_temporaries(const std::string& dir,
                                                     const std::function<bool(const std::string&)>& which) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    long pid = temp_owner_pid(name);
    if (pid <= 0 || pid == ::getpid() || (which && !which(name))) continue;
    // Signal 0 only asks whether the process exists (EPERM: it does, as another user's).
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;
    if (std::filesystem::remove(entry.path(), ec)) removed.push_back(entry.path().string());
  }
  return removed;
}

void register_temp_file(const std::string& path) {
  if (path.size() >= kMaxPath) return;
  std::lock_guard<std::mutex> lock(g_temps_mutex);
  for (auto& slot : g_temps) {
    if (!slot.used.load()) {
      std::memcpy(slot.path, path.c_str(), path.size() + 1);
      slot.used.store(true);
      return;
    }
  }
}

void unregister_temp_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_temps_mutex);
  for (auto& slot : g_temps)
    if (slot.used.load() && path == slot.path) slot.used.store(false);
}

void remove_registered_temp_files_signal_safe() {
  for (auto& slot : g_temps)
    if (slot.used.load()) ::unlink(slot.path);
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw error_at(path, std::string("cannot open for fsync: ") + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on directories (EINVAL); that is not a data-loss risk.
  if (rc != 0 && err != EINVAL) throw error_at(path, std::string("fsync failed: ") + std::strerror(err));
}

AtomicFile::AtomicFile(std::string final_path)
    : final_path_(std::move(final_path)), temp_path_(temp_name_for(final_path_)) {
  register_temp_file(temp_path_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    ::unlink(temp_path_.c_str());
    unregister_temp_file(temp_path_);
  }
}

void AtomicFile::commit() {
  fsync_path(temp_path_);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    throw error_at(final_path_, std::string("cannot rename temporary into place: ") + std::strerror(errno));
  committed_ = true;
  unregister_temp_file(temp_path_);
  auto dir = std::filesystem::path(final_path_).parent_path();
  fsync_path(dir.empty() ? "." : dir.string());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw error_at(path, std::string("cannot create: ") + std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) throw error_at(path, std::string("write failed: ") + std::strerror(errno));
  }
  file.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw error_at(path, "read error");
  return ss.str();
}

}  // namespace sherl
