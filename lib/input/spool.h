#pragma once
// Inputs are read twice (a label pre-scan, then the examples), so an input that cannot be
// read twice (standard input, a pipe such as `--input <(zcat ...)`, a character device) is
// first copied to a spool file, which is removed when done or when the process is stopped.
#include <memory>
#include <string>

#include "lib/input/source.h"

namespace sherl {

class SpooledInput {
 public:
  // Copies `source` ("-": standard input) to <dir>/.spool-<role>.tmp.<pid>, after removing
  // the spools that dead processes left in `dir`. Throws sherl::Error naming the spool file
  // (and leaves nothing behind) when the copy fails, e.g. on a full disk.
  SpooledInput(const std::string& source, const std::string& dir, const std::string& role);
  ~SpooledInput();
  SpooledInput(const SpooledInput&) = delete;
  SpooledInput& operator=(const SpooledInput&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True for "-" and for paths that are not regular files (pipes, sockets, devices).
bool needs_spool(const std::string& source);

// The input a tool should read: `source` itself, or a spool of it (made in `dir` and kept
// alive by `keep`) when needs_spool(source). An empty `source` stays empty; a directory is
// refused, naming it.
std::string spooled_if_needed(const std::string& source, const std::string& dir, const std::string& role,
                              std::unique_ptr<SpooledInput>& keep);

// Whether a file name in a directory is a spool (of this or another process).
bool is_spool_name(const std::string& file_name);

// The spools that an input and its labels needed (empty when none), kept alive while read.
struct InputSpools {
  std::unique_ptr<SpooledInput> input, labels;
};

// Points `spec` at `input` ("-": standard input) and at its spec.labels_path, spooled into
// `dir` where they cannot be read twice, with the names messages should use. Refuses
// standard input for both.
InputSpools prepare_input_files(const std::string& input, InputSpec& spec, const std::string& dir);

}  // namespace sherl
