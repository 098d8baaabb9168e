#pragma once
// SHA-256 digests, hex encoded: identities of backbones and inputs, checksums of shards.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sherl {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex_digest();  // finishes the digest; call once

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(const void* data, size_t size);
std::string sha256_hex(const std::string& s);
// Streams the file; throws sherl::Error naming the path when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace sherl
