// Shard files as arbitrary bytes (shard_file) or built from the bytes (shard, shard.cpp):
// both run ShardReader's structure checks and reads and sherl-info --verify's checks of one
// file (every chunk, values, labels, ids) through read_shard_file().
#include <algorithm>

#include "lib/core/error.h"
#include "lib/shard/shard.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/shard_check.h"

namespace sherl::fuzz {

void read_shard_file(const std::string& path) {
  try {
    ShardReader reader(path);
    const int64_t n = reader.size();
    expect(int64_t(reader.ids().size()) == n && reader.labels().size(0) == n, "ids or labels not one per example");
    for (int64_t i = 0; i < std::min<int64_t>(n, 4); ++i) {
      ShardExample ex = reader.read(i);
      expect(ex.features.dim() == 3 && ex.features.size(0) == reader.num_tokens(i) &&
                 ex.features.size(1) == int64_t(reader.info().tiers.size()) &&
                 ex.features.size(2) == reader.info().backbone.hidden_size,
             "example features of another shape than the offsets and attributes say");
    }
  } catch (const Error& e) {
    expect_names(e, path);
  }
  for (const std::string& problem : verify_shard_file(path))
    expect(problem.compare(0, path.size(), path) == 0, "a verify problem that does not name the file: " + problem);
}

int shard_file(const uint8_t* data, size_t size) {
  read_shard_file(write_input(scratch_subdir("shard_file") + "/shard-00000.h5", data, size));
  return 0;
}

}  // namespace sherl::fuzz
