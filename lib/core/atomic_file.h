#pragma once
// Writers never leave a half-written file under its final name: they write to a temporary
// name beside it, fsync, and rename on success. Temporaries still open when the process is
// stopped by SIGINT/SIGTERM are removed by the signal handler (see runtime.h).
#include <functional>
#include <string>
#include <vector>

namespace sherl {

class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  ~AtomicFile();  // removes the temporary if commit() was not reached
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  // fsyncs the temporary, renames it to the final name and fsyncs the directory.
  void commit();

 private:
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

// Writes `contents` to `path` atomically (temporary + fsync + rename).
void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);
void fsync_path(const std::string& path);  // fsync a file or directory; throws on failure
std::string temp_name_for(const std::string& final_path);  // "<dir>/.<name>.tmp.<pid>"
bool is_temp_name(const std::string& file_name);
// The process id in a temporary's name (".<name>.tmp.<pid>"), or -1 when there is none.
long temp_owner_pid(const std::string& file_name);
// Removes the temporaries in `dir` whose writer is not running on this host (left by a
// SIGKILL, a crash or a power loss; SIGINT/SIGTERM remove their own), when `which(name)`
// says so (default: all). Returns the paths removed. Only for directories that no process
// on another host writes into at the same time: the pid says nothing about those.
std::vector<std::string> remove_orphaned_temporaries(const std::string& dir,
                                                     const std::function<bool(const std::string&)>& which = {});
// Registry of temporaries that the SIGINT/SIGTERM handler removes.
void register_temp_file(const std::string& path);
void unregister_temp_file(const std::string& path);
void remove_registered_temp_files_signal_safe();

}  // namespace sherl
