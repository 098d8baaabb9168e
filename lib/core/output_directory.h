#pragma once
// Checks on the directories tools are told to write (--out), made before anything is
// written, so that a wrong path fails with a sentence instead of an errno.
#include <string>

namespace sherl {

// Creates `dir` (and its parents) when missing. Throws sherl::Error naming `option` and the
// path when it is a dangling symbolic link, exists but is not a directory, or cannot be made.
void create_output_directory(const std::string& dir, const std::string& option = "--out");

// True when `inner` is `outer` or lies inside it, after resolving symbolic links, "." and
// ".." in both (the parts that do not exist yet are taken as spelled).
bool is_same_or_inside(const std::string& inner, const std::string& outer);

}  // namespace sherl
