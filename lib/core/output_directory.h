#pragma once
// Checks on the directories tools are told to write (--out), made before anything is
// written, so that a wrong path fails with a sentence instead of an errno.
#include <filesystem>
#include <string>
#include <vector>

namespace sherl {

// Creates `dir` (and its parents) when missing. Throws sherl::Error naming `option` and the
// path when it is a dangling symbolic link, exists but is not a directory, or cannot be made.
void create_output_directory(const std::string& dir, const std::string& option = "--out");

// create_output_directory, undone on destruction where nothing was written: the directories
// it made (`dir` and missing parents) that are still empty are removed again, so that a run
// that stops before writing (a refusal, a dry run) leaves no trace.
class ScopedOutputDirectory {
 public:
  explicit ScopedOutputDirectory(const std::string& dir, const std::string& option = "--out");
  ~ScopedOutputDirectory();
  ScopedOutputDirectory(const ScopedOutputDirectory&) = delete;
  ScopedOutputDirectory& operator=(const ScopedOutputDirectory&) = delete;

 private:
  std::vector<std::filesystem::path> made_;  // deepest first
};

// True when `inner` is `outer` or lies inside it, after resolving symbolic links, "." and
// ".." in both (the parts that do not exist yet are taken as spelled).
bool is_same_or_inside(const std::string& inner, const std::string& outer);

}  // namespace sherl
