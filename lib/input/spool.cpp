#include "lib/input/spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/output_directory.h"

namespace sherl {
namespace {

// Copies everything from `in` to `out`; false on a read or write error (errno set).
bool copy_stream(std::FILE* in, std::FILE* out) {
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), in)) > 0)
    if (std::fwrite(buf.data(), 1, n, out) != n) return false;
  return !std::ferror(in);
}

}  // namespace

bool is_spool_name(const std::string& name) {
  // ".stdin.tmp.<pid>": the name of spools before there were several roles.
  return is_temp_name(name) && (name.rfind(".spool-", 0) == 0 || name.rfind(".stdin.tmp.", 0) == 0);
}

bool needs_spool(const std::string& source) {
  if (source == "-") return true;
  struct stat st {};
  return ::stat(source.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

SpooledInput::SpooledInput(const std::string& source, const std::string& dir, const std::string& role) {
  create_output_directory(dir, "spool directory");
  remove_orphaned_temporaries(dir, is_spool_name);
  path_ = temp_name_for(dir + "/spool-" + role);
  register_temp_file(path_);
  const bool from_stdin = source == "-";
  std::FILE* in = from_stdin ? stdin : std::fopen(source.c_str(), "rb");
  std::FILE* out = in ? std::fopen(path_.c_str(), "wb") : nullptr;
  bool ok = in && out && copy_stream(in, out);
  int err = errno;
  if (out && std::fclose(out) != 0 && ok) ok = false, err = errno;
  if (in && !from_stdin) std::fclose(in);
  if (ok) return;
  ::unlink(path_.c_str());
  unregister_temp_file(path_);
  if (!in) throw error_at(source, std::string("cannot open for reading: ") + std::strerror(err));
  throw error_at(path_, "cannot spool " + std::string(from_stdin ? "standard input" : source) + ": " +
                            std::strerror(err) + (err == ENOSPC ? " (disk full)" : ""));
}

SpooledInput::~SpooledInput() {
  ::unlink(path_.c_str());
  unregister_temp_file(path_);
}

InputSpools prepare_input_files(const std::string& input, InputSpec& spec, const std::string& dir) {
  if (input == "-" && spec.labels_path == "-") throw Error("--input and --labels cannot both be standard input");
  InputSpools spools;
  spec.path = spooled_if_needed(input, dir, "input", spools.input);
  spec.display_name = input == "-" ? "<stdin>" : input;
  spec.labels_display_name = spec.labels_path;
  spec.labels_path = spooled_if_needed(spec.labels_path, dir, "labels", spools.labels);
  return spools;
}

std::string spooled_if_needed(const std::string& source, const std::string& dir, const std::string& role,
                              std::unique_ptr<SpooledInput>& keep) {
  struct stat st {};
  // The readers would fail on their first read with the C++ library's words, naming nothing.
  if (!source.empty() && source != "-" && ::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw error_at(source, "is a directory, not an input file");
  if (source.empty() || !needs_spool(source)) return source;
  keep = std::make_unique<SpooledInput>(source, dir, role);
  return keep->path();
}

}  // namespace sherl
