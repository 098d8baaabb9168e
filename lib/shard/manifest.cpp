// manifest.json of a shard-set directory: written last and atomically, so that its
// presence marks a complete set (formats/shard.md, "manifest.json").
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/shard/format.h"
#include "lib/shard/shard_info.h"

namespace sherl {
namespace {

constexpr const char* kManifestFormat = "sherl-shard-set";
constexpr int64_t kManifestVersion = 1;

// A name that can only mean a file directly inside the set's directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

int64_t Manifest::total_examples() const {
  int64_t total = 0;
  for (const auto& s : shards) total += s.examples;
  return total;
}

std::string manifest_path(const std::string& dir) { return (std::filesystem::path(dir) / "manifest.json").string(); }

void write_manifest(const std::string& dir, const Manifest& manifest) {
  json shards = json::array();
  for (const auto& s : manifest.shards) shards.push_back(to_json(s));
  json j = {{"format", kManifestFormat},
            {"format_version", kManifestVersion},
            {"total_examples", manifest.total_examples()},
            {"info", to_json(manifest.info)},
            {"shards", shards}};
  write_file_atomic(manifest_path(dir), j.dump(2) + "\n");
}

Manifest read_manifest(const std::string& dir) {
  const std::string path = manifest_path(dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw error_at(dir, ec == std::errc::too_many_symbolic_link_levels ? "is a loop of symbolic links"
                        : std::filesystem::exists(dir, ec)             ? "is not a shard-set directory"
                                                                       : "no such directory");
  if (!std::filesystem::exists(path, ec)) {
    if (std::filesystem::exists(std::filesystem::path(dir) / "consolidate.json", ec))
      throw error_at(dir, "is the output of sherl-consolidate, not a shard set: give its train/ or val/");
    throw error_at(path, "missing: incomplete shard set (the run that wrote it was interrupted or is still going)");
  }
  json j = read_json_file(path);
  Manifest m;
  try {
    if (j.at("format").get<std::string>() != kManifestFormat)
      throw error_at(path, "not a sherl shard-set manifest (format is '" + j.at("format").get<std::string>() + "')");
    int64_t version = j.at("format_version").get<int64_t>();
    if (version != kManifestVersion)
      throw error_at(path, "unsupported manifest version " + std::to_string(version) + " (this sherl reads version " +
                               std::to_string(kManifestVersion) + ")");
    m.info = shard_set_info_from_json(j.at("info"), path);
    for (const auto& s : j.at("shards")) {
      ManifestEntry e = manifest_entry_from_json(s, path);
      if (!is_plain_file_name(e.file))
        throw error_at(path, "shard file name " + json(e.file).dump() + " must be a plain name inside the directory");
      m.shards.push_back(std::move(e));
    }
    if (j.at("total_examples").get<int64_t>() != m.total_examples())
      throw error_at(path, "total_examples " + std::to_string(j.at("total_examples").get<int64_t>()) +
                               " does not match the sum over shards " + std::to_string(m.total_examples()));
  } catch (const json::exception& e) {
    throw error_at(path, std::string("bad manifest: ") + e.what());
  }
  return m;
}

}  // namespace sherl
