#include "lib/shard/shard_set_writer.h"

#include <algorithm>
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/set_directory.h"
#include "lib/shard/shard_info.h"

namespace fs = std::filesystem;

namespace sherl {

ShardSetWriter::ShardSetWriter(std::string dir, ShardSetInfo info, CompressionOptions compression)
    : dir_(std::move(dir)), info_(std::move(info)), compression_(compression) {
  fs::create_directories(dir_);
}

ShardSetWriter::~ShardSetWriter() = default;

void ShardSetWriter::record(int64_t index, int64_t examples, const std::string& sha256) {
  const std::string file = shard_file_name(index);
  ManifestEntry entry{file, examples, sha256, static_cast<int64_t>(fs::file_size(fs::path(dir_) / file))};
  auto at = std::lower_bound(shards_.begin(), shards_.end(), file,
                             [](const ManifestEntry& e, const std::string& f) { return e.file < f; });
  shards_.insert(at, std::move(entry));
}

bool ShardSetWriter::keep_existing(int64_t index, int64_t examples, std::string& why_not) {
  why_not.clear();
  const std::string path = (fs::path(dir_) / shard_file_name(index)).string();
  if (!fs::exists(path)) return false;
  try {
    ShardFile file(path);
    ShardSetInfo found = file.info();
    found.source_path = info_.source_path;  // the same input may be spelled otherwise
    if (std::string field = first_difference(found, info_); !field.empty())
      throw Error("its " + field + " differs from this set's");
    if (file.shard_index() != index) throw Error("its shard_index is " + std::to_string(file.shard_index()));
    if (file.size() != examples) throw Error("does not hold this shard's " + std::to_string(examples) + " examples");
  } catch (const Error& e) {
    why_not = e.what();
    fs::remove(path);
    return false;
  }
  record(index, examples, sha256_file(path));
  return true;
}

void ShardSetWriter::open_shard(int64_t index, int64_t contiguous_tokens) {
  if (open_) throw Error(dir_ + ": shard " + std::to_string(open_index_) + " is still open");
  fs::remove(manifest_path(dir_));  // it may list the shard about to be replaced
  open_ = std::make_unique<ShardWriter>((fs::path(dir_) / shard_file_name(index)).string(), info_, index,
                                        compression_, contiguous_tokens);
  open_index_ = index;
}

bool ShardSetWriter::has_open_shard() const { return open_ != nullptr; }

void ShardSetWriter::append(const ShardExample& example) {
  if (!open_) throw Error(dir_ + ": no shard is open");
  open_->append(example);
}

int64_t ShardSetWriter::open_shard_size() const { return open_ ? open_->size() : 0; }

void ShardSetWriter::commit_shard() {
  if (!open_) throw Error(dir_ + ": no shard is open");
  const int64_t examples = open_->size();
  const std::string sha256 = open_->commit();
  open_.reset();
  record(open_index_, examples, sha256);
}

void ShardSetWriter::finish() {
  write_manifest(dir_, {info_, shards_});
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    bool listed = std::any_of(shards_.begin(), shards_.end(), [&](const ManifestEntry& e) { return e.file == name; });
    if (is_shard_file_name(name) && !listed) fs::remove(entry.path());
  }
}

void ShardSetWriter::finish_partition(int64_t partition, int64_t partitions) {
  write_part_manifest(dir_, partition, partitions, shards_);
}

const std::vector<ManifestEntry>& ShardSetWriter::shards() const { return shards_; }

int64_t ShardSetWriter::examples() const {
  int64_t n = 0;
  for (const auto& e : shards_) n += e.examples;
  return n;
}

}  // namespace sherl
