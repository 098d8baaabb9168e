#include "lib/core/output_directory.h"

#include <filesystem>

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace sherl {

void create_output_directory(const std::string& dir, const std::string& option) {
  const std::string where = option + " " + dir;
  std::error_code ec;
  const fs::file_status target = fs::status(dir, ec);
  if (ec == std::errc::too_many_symbolic_link_levels) throw Error(where + ": is a loop of symbolic links");
  if (fs::is_symlink(fs::symlink_status(dir, ec)) && !fs::exists(target))
    throw Error(where + ": is a symbolic link to " + fs::read_symlink(dir, ec).string() + ", which does not exist");
  if (fs::exists(target) && !fs::is_directory(target)) throw Error(where + ": exists and is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw Error(where + ": cannot create the directory: " + ec.message());
}

ScopedOutputDirectory::ScopedOutputDirectory(const std::string& dir, const std::string& option) {
  std::error_code ec;
  for (fs::path p = fs::absolute(dir, ec).lexically_normal(); !p.empty() && !fs::exists(fs::symlink_status(p, ec));
       p = p.parent_path()) {
    if (p.filename().empty()) continue;  // a trailing "/"
    made_.push_back(p);
    if (p == p.parent_path()) break;
  }
  create_output_directory(dir, option);
}

ScopedOutputDirectory::~ScopedOutputDirectory() {
  std::error_code ec;
  for (const fs::path& p : made_)
    if (!fs::remove(p, ec)) break;  // not empty (or gone): what is above holds it
}

bool is_same_or_inside(const std::string& inner, const std::string& outer) {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(inner), ec);
  if (ec) a = fs::absolute(inner).lexically_normal();
  fs::path b = fs::weakly_canonical(fs::absolute(outer), ec);
  if (ec) b = fs::absolute(outer).lexically_normal();
  // Compare element by element ("a/bc" is not inside "a/b"); a trailing "/" leaves an empty
  // last element, which is skipped.
  auto ai = a.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi) {
    if (bi->empty()) continue;
    if (ai == a.end() || *ai != *bi) return false;
    ++ai;
  }
  return true;
}

}  // namespace sherl
