#include "lib/shard/set_directory.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/shard/shard_info.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

// `text` from `pos` holds at least `min_digits` digits and nothing else up to `end`.
bool digits(const std::string& text, size_t pos, size_t end, size_t min_digits) {
  if (end < pos || end - pos < min_digits) return false;
  for (size_t i = pos; i < end; ++i)
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  return true;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string shard_file_name(int64_t index) {
  char name[40];
  std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(index));
  return name;
}

bool is_shard_file_name(const std::string& name) {
  return starts_with(name, "shard-") && ends_with(name, ".h5") && digits(name, 6, name.size() - 3, 5);
}

std::string part_manifest_name(int64_t partition, int64_t partitions) {
  char name[80];
  std::snprintf(name, sizeof name, "manifest.part-%04lld-of-%04lld.json", static_cast<long long>(partition),
                static_cast<long long>(partitions));
  return name;
}

bool is_part_manifest_name(const std::string& name) {
  const std::string prefix = "manifest.part-", suffix = ".json";
  if (!starts_with(name, prefix) || !ends_with(name, suffix)) return false;
  size_t of = name.find("-of-", prefix.size());
  return of != std::string::npos && digits(name, prefix.size(), of, 4) &&
         digits(name, of + 4, name.size() - suffix.size(), 4);
}

bool is_shard_set_file_name(const std::string& name) {
  return name == "manifest.json" || is_shard_file_name(name) || is_part_manifest_name(name);
}

void write_part_manifest(const std::string& dir, int64_t partition, int64_t partitions,
                         const std::vector<ManifestEntry>& shards) {
  json listed = json::array();
  for (const auto& e : shards) listed.push_back(to_json(e));
  json part = {{"partition", partition}, {"partitions", partitions}, {"shards", listed}};
  write_file_atomic((fs::path(dir) / part_manifest_name(partition, partitions)).string(), part.dump(2) + "\n");
}

bool merge_part_manifests(const std::string& dir, int64_t partitions, int64_t expected_examples) {
  struct Part {
    json content;
    fs::file_time_type written;
    std::string path;
  };
  std::vector<Part> parts;
  for (const auto& entry : fs::directory_iterator(dir))
    if (is_part_manifest_name(entry.path().filename().string()))
      parts.push_back({read_json_file(entry.path().string()), entry.last_write_time(), entry.path().string()});
  if (parts.empty()) return false;
  try {
    if (partitions < 0)
      partitions = std::max_element(parts.begin(), parts.end(), [](auto& a, auto& b) { return a.written < b.written; })
                       ->content.at("partitions")
                       .get<int64_t>();
    std::vector<ManifestEntry> entries;
    int64_t have = 0;
    for (const auto& part : parts) {
      if (part.content.at("partitions").get<int64_t>() != partitions) continue;
      for (const auto& s : part.content.at("shards")) {
        entries.push_back(manifest_entry_from_json(s, part.path));
        have += entries.back().examples;
      }
    }
    if (have != expected_examples || entries.empty()) return false;
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.file < b.file; });
    Manifest manifest;
    manifest.info = ShardFile((fs::path(dir) / entries.front().file).string()).info();
    manifest.shards = entries;
    write_manifest(dir, manifest);
  } catch (const json::exception& e) {
    throw error_at(dir, std::string("a part manifest is malformed: ") + e.what());
  }
  return true;
}

void remove_shard_set_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  fs::remove(manifest_path(dir));
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (is_shard_set_file_name(name) && entry.is_regular_file(ec)) fs::remove(entry.path());
  }
}

}  // namespace sherl
