#pragma once
// Safetensors reading (memory-mapped) and writing. Format: 8-byte little-endian header
// length N, N bytes of JSON header {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {...}}, then the data buffer. The reader validates the header (JSON
// well-formed, offsets in range and non-overlapping, dtype known, shape matching the byte
// size) and throws sherl::Error("<path>: <problem>") otherwise.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sherl {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& name) const;
  // A copy of the tensor in its stored dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL).
  torch::Tensor get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes tensors (contiguous CPU copies are made) atomically; names in sorted order.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sherl
