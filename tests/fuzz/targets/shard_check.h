#pragma once
#include <string>

namespace sherl::fuzz {

// Opens the shard with ShardReader, reads its first examples, and verifies it with
// verify_shard_file; a refusal must name the file (fail() otherwise).
void read_shard_file(const std::string& path);

}  // namespace sherl::fuzz
