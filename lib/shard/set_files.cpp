// What every reader of a shard set checks of the shard files its manifest lists, before it
// trusts them (open_shard_files), and the checks that verification shares.
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/format.h"
#include "lib/shard/shard_info.h"

namespace sherl {

std::string size_problem(const std::string& path, const ManifestEntry& entry) {
  std::error_code ec;
  auto bytes = std::filesystem::file_size(path, ec);
  if (ec || static_cast<int64_t>(bytes) == entry.bytes) return "";  // a missing file: the reader says so
  return "size " + std::to_string(bytes) + " bytes differs from manifest.json (" + std::to_string(entry.bytes) +
         "): truncated, or changed after the set was written";
}

std::string manifest_problem(const ShardFile& file, const Manifest& manifest, int64_t position) {
  const ManifestEntry& entry = manifest.shards[static_cast<size_t>(position)];
  if (file.size() != entry.examples)
    return "has " + std::to_string(file.size()) + " examples but manifest.json lists " + std::to_string(entry.examples);
  if (file.shard_index() != position)
    return "attribute 'shard_index' is " + std::to_string(file.shard_index()) + " but manifest.json lists it " +
           "at position " + std::to_string(position);
  std::string diff = first_difference(file.info(), manifest.info);
  if (!diff.empty()) return "attribute for '" + diff + "' differs from manifest.json";
  return "";
}

std::vector<ShardFile> open_shard_files(const std::string& dir, const Manifest& manifest) {
  std::vector<ShardFile> files;
  for (size_t position = 0; position < manifest.shards.size(); ++position) {
    const ManifestEntry& entry = manifest.shards[position];
    std::string path = (std::filesystem::path(dir) / entry.file).string();
    std::string problem = size_problem(path, entry);  // cheap, catches truncation
    if (!problem.empty()) throw error_at(path, problem);
    // Before HDF5 opens it: damaged HDF5 metadata can crash the library or change what is
    // read without failing a chunk's Fletcher32; only the file's checksum covers every byte.
    // One pass over the set's bytes (its cost: bench/README.md, "Figures behind the code").
    if (sha256_file(path) != entry.sha256)
      throw error_at(path, "SHA-256 differs from manifest.json: the file changed or was damaged after the set was "
                           "written (sherl-info --verify lists what)");
    ShardFile file(path);
    problem = manifest_problem(file, manifest, static_cast<int64_t>(position));
    if (!problem.empty()) throw error_at(path, problem);
    files.push_back(std::move(file));
  }
  return files;
}

}  // namespace sherl
