// Verification for `sherl-info --verify`: everything a reader trusts is re-checked, every
// stored chunk is read (so HDF5 checks its Fletcher32 checksum), and the manifest is
// compared with the files. Problems are collected, one line each, rather than thrown.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <unordered_set>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/format.h"
#include "lib/shard/shard_info.h"
#include "lib/shard/shard_layout.h"  // kMaxInt8Scale

namespace sherl {
namespace {

namespace fs = std::filesystem;

// Token rows per verification read: bounds memory while keeping reads large.
constexpr int64_t kVerifyRows = 4096;
// A badly damaged file would otherwise produce one message per block.
constexpr size_t kMaxProblemsPerFile = 20;

// Examples [begin, end) covering about kVerifyRows token rows (at least one example).
int64_t block_end(const ShardFile& f, int64_t begin) {
  int64_t end = begin, rows = 0;
  while (end < f.size() && (end == begin || rows + f.num_tokens(end) <= kVerifyRows)) rows += f.num_tokens(end++);
  return end;
}

// Whether `count` stored values of `dtype` at `values` are all finite: checked on their bits
// (an all-ones exponent is Inf or NaN), so no conversion is needed. Int8 values must lie in
// -127..127 (their scales are checked apart).
bool all_finite(const unsigned char* values, size_t count, FeatureDType dtype) {
  if (dtype == FeatureDType::I8)  // the writer stores -127..127: -128 would overflow at the largest scale
    return std::find(values, values + count, static_cast<unsigned char>(0x80)) == values + count;
  if (dtype == FeatureDType::F32) {
    for (size_t k = 0; k < count; ++k) {
      float v;
      std::memcpy(&v, values + 4 * k, 4);
      if (!std::isfinite(v)) return false;
    }
    return true;
  }
  const uint16_t exponent = dtype == FeatureDType::F16 ? 0x7C00 : 0x7F80;
  for (size_t k = 0; k < count; ++k) {
    uint16_t bits;
    std::memcpy(&bits, values + 2 * k, 2);
    if ((bits & exponent) == exponent) return false;
  }
  return true;
}

// Reads examples [begin, end) (every chunk they occupy, so HDF5 checks its Fletcher32) and
// checks their values and labels.
void check_examples(const ShardFile& f, int64_t begin, int64_t end, std::vector<unsigned char>& buffer,
                    std::vector<std::string>& problems) {
  const ShardSetInfo& info = f.info();
  const size_t row_values = info.tiers.size() * static_cast<size_t>(info.backbone.hidden_size);
  const size_t row_bytes = row_values * value_bytes(info.dtype);
  const auto rows = static_cast<size_t>(f.token_rows(begin, end));
  buffer.resize(rows * row_bytes);
  f.read_features(begin, end, buffer.data());
  std::vector<float> scales;  // dtype i8: [rows][tiers]
  if (info.dtype == FeatureDType::I8) {
    scales.resize(rows * info.tiers.size());
    f.read_scales(begin, end, scales.data());
  }
  for (int64_t i = begin; i < end; ++i) {
    std::string which = "example " + std::to_string(i) + " (id " + std::to_string(f.ids()[i]) + ")";
    const size_t first = static_cast<size_t>(f.offsets()[i] - f.offsets()[begin]);
    if (!all_finite(buffer.data() + first * row_bytes, static_cast<size_t>(f.num_tokens(i)) * row_values, info.dtype))
      problems.push_back(f.path() + ": dataset 'features': " + which +
                         (info.dtype == FeatureDType::I8 ? " has values outside -127..127" : " has NaN or infinite values"));
    if (!scales.empty()) {
      const auto tiers = info.tiers.size();
      const float* s = scales.data() + first * tiers;
      if (!std::all_of(s, s + static_cast<size_t>(f.num_tokens(i)) * tiers,
                       layout::is_int8_scale))
        problems.push_back(f.path() + ": dataset 'feature_scales': " + which +
                           " has NaN, infinite, negative or overflowing scales");
    }
    if (info.label_kind == LabelKind::Class) {
      int64_t c = f.class_labels()[i];
      if (c < 0 || c >= info.num_labels)
        problems.push_back(f.path() + ": dataset 'label': " + which + " has class " + std::to_string(c) +
                           " outside 0.." + std::to_string(info.num_labels - 1));
    } else {
      const float* values = f.label_values().data() + i * info.num_labels;
      for (int64_t k = 0; k < info.num_labels; ++k)
        if (!std::isfinite(values[k])) {
          problems.push_back(f.path() + ": dataset 'label': " + which + " has NaN or infinite values");
          break;
        }
    }
  }
}

void check_unique_ids(const ShardFile& f, std::unordered_set<int64_t>& seen, std::vector<std::string>& problems) {
  for (int64_t id : f.ids())
    if (!seen.insert(id).second) {
      problems.push_back(f.path() + ": dataset 'example_id': id " + std::to_string(id) + " occurs more than once");
      return;  // one message is enough to flag the shard
    }
}

// A failure while checking `path` as one line naming it: damaged files make the libraries
// below throw anything (HDF5 via sherl::Error, JSON parse errors).
std::string failure(const std::string& path, const std::exception& e) {
  std::string what = e.what();
  return what.rfind(path, 0) == 0 ? what : path + ": " + what;
}

// Checks one shard, adding ids to `seen` (shared across a set).
std::vector<std::string> verify_file(const std::string& path, std::unordered_set<int64_t>& seen) {
  std::vector<std::string> problems;
  std::unique_ptr<ShardFile> file;
  try {
    file = std::make_unique<ShardFile>(path);  // structure, attributes, offsets
  } catch (const std::exception& e) {
    return {failure(path, e)};
  }
  std::vector<unsigned char> buffer;
  for (int64_t begin = 0; begin < file->size() && problems.size() < kMaxProblemsPerFile;) {
    int64_t end = block_end(*file, begin);
    try {
      check_examples(*file, begin, end, buffer, problems);
    } catch (const std::exception& e) {
      problems.push_back(failure(path, e));  // e.g. a Fletcher32 checksum failure in these rows
    }
    begin = end;
  }
  try {
    check_unique_ids(*file, seen, problems);
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
    problem = manifest_problem(ShardFile(path), manifest, position);
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
