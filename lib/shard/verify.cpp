// Verification for `sherl-info --verify`: everything a reader trusts is re-checked, every
// stored chunk is read (so HDF5 checks its Fletcher32 checksum), and the manifest is
// compared with the files. Problems are collected, one line each, rather than thrown.
#include <filesystem>
#include <set>
#include <unordered_set>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/shard.h"
#include "lib/shard/shard_info.h"

namespace sherl {
namespace {

namespace fs = std::filesystem;

// Token rows per verification read: bounds memory while keeping reads large.
constexpr int64_t kVerifyRows = 4096;
// A badly damaged file would otherwise produce one message per block.
constexpr size_t kMaxProblemsPerFile = 20;

// Examples [begin, end) covering about kVerifyRows token rows (at least one example).
int64_t block_end(const ShardReader& r, int64_t begin) {
  int64_t end = begin, rows = 0;
  while (end < r.size() && (end == begin || rows + r.num_tokens(end) <= kVerifyRows)) rows += r.num_tokens(end++);
  return end;
}

void check_values(const ShardReader& r, const std::vector<ShardExample>& examples, int64_t first,
                  std::vector<std::string>& problems) {
  const ShardSetInfo& info = r.info();
  for (size_t k = 0; k < examples.size(); ++k) {
    const ShardExample& ex = examples[k];
    std::string which = "example " + std::to_string(first + static_cast<int64_t>(k)) + " (id " + std::to_string(ex.id) + ")";
    if (!torch::isfinite(ex.features).all().item<bool>())
      problems.push_back(r.path() + ": dataset 'features': " + which + " has NaN or infinite values");
    if (info.label_kind == LabelKind::Class) {
      int64_t c = ex.label.item<int64_t>();
      if (c < 0 || c >= info.num_labels)
        problems.push_back(r.path() + ": dataset 'label': " + which + " has class " + std::to_string(c) +
                           " outside 0.." + std::to_string(info.num_labels - 1));
    } else if (!torch::isfinite(ex.label).all().item<bool>()) {
      problems.push_back(r.path() + ": dataset 'label': " + which + " has NaN or infinite values");
    }
  }
}

void check_unique_ids(const ShardReader& r, std::unordered_set<int64_t>& seen, std::vector<std::string>& problems) {
  for (int64_t id : r.ids())
    if (!seen.insert(id).second) {
      problems.push_back(r.path() + ": dataset 'example_id': id " + std::to_string(id) + " occurs more than once");
      return;  // one message is enough to flag the shard
    }
}

// A failure while checking `path` as one line naming it: damaged files make the libraries
// below throw anything (HDF5 via sherl::Error, JSON parse errors, LibTorch shape errors).
std::string failure(const std::string& path, const std::exception& e) {
  std::string what = e.what();
  return what.rfind(path, 0) == 0 ? what : path + ": " + what;
}

// Checks one shard, adding ids to `seen` (shared across a set).
std::vector<std::string> verify_file(const std::string& path, std::unordered_set<int64_t>& seen) {
  std::vector<std::string> problems;
  std::unique_ptr<ShardReader> reader;
  try {
    reader = std::make_unique<ShardReader>(path);  // structure, attributes, offsets
  } catch (const std::exception& e) {
    return {failure(path, e)};
  }
  for (int64_t begin = 0; begin < reader->size() && problems.size() < kMaxProblemsPerFile;) {
    int64_t end = block_end(*reader, begin);
    try {
      check_values(*reader, reader->read_range(begin, end, /*stored_dtype=*/true), begin, problems);
    } catch (const std::exception& e) {
      problems.push_back(failure(path, e));  // e.g. a Fletcher32 checksum failure in these rows
    }
    begin = end;
  }
  try {
    check_unique_ids(*reader, seen, problems);
  } catch (const std::exception& e) {
    problems.push_back(failure(path, e));
  }
  return problems;
}

void check_entry(const std::string& dir, const Manifest& manifest, int64_t position, std::unordered_set<int64_t>& seen,
                 std::vector<std::string>& problems) {
  const ManifestEntry& entry = manifest.shards[static_cast<size_t>(position)];
  std::string path = (fs::path(dir) / entry.file).string();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    problems.push_back(path + ": listed in manifest.json but missing");
    return;
  }
  std::string problem = size_problem(path, entry);
  if (!problem.empty()) problems.push_back(path + ": " + problem);
  // A file whose bytes differ from the committed ones is not opened: damaged HDF5 metadata
  // can crash the library. Verifying the file alone says what is wrong inside.
  if (problem.empty() && sha256_file(path) != entry.sha256) {
    problems.push_back(path + ": sha256 differs from manifest.json (file changed or corrupt; sherl-info --verify " +
                       path + " checks it alone)");
    return;
  }
  auto file_problems = verify_file(path, seen);
  problems.insert(problems.end(), file_problems.begin(), file_problems.end());
  if (!file_problems.empty()) return;
  try {
    problem = manifest_problem(ShardReader(path), manifest, position);
  } catch (const std::exception& e) {
    problem = failure(path, e).substr(path.size() + 2);
  }
  if (!problem.empty()) problems.push_back(path + ": " + problem);
}

}  // namespace

std::vector<std::string> verify_shard_file(const std::string& path) {
  std::unordered_set<int64_t> seen;
  return verify_file(path, seen);
}

std::vector<std::string> verify_shard_set(const std::string& dir) {
  std::vector<std::string> problems;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {dir + ": not a directory"};
  std::set<std::string> names;  // sorted, for stable messages
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  for (const auto& name : names)
    if (is_temp_name(name))
      problems.push_back((fs::path(dir) / name).string() +
                         ": temporary file of an interrupted or running writer: incomplete shard set");
  std::unordered_set<int64_t> seen;
  Manifest manifest;
  try {
    manifest = read_manifest(dir);
  } catch (const std::exception& e) {
    problems.push_back(failure((fs::path(dir) / "manifest.json").string(), e));
    // Without a manifest, still check the shard files that are there.
    for (const auto& name : names)
      if (!is_temp_name(name) && fs::path(name).extension() == ".h5") {
        auto p = verify_file((fs::path(dir) / name).string(), seen);
        problems.insert(problems.end(), p.begin(), p.end());
      }
    return problems;
  }
  for (size_t i = 0; i < manifest.shards.size(); ++i) check_entry(dir, manifest, static_cast<int64_t>(i), seen, problems);
  return problems;
}

}  // namespace sherl
