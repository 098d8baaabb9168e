#include "lib/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"

namespace sherl {
namespace {

struct DTypeInfo {
  const char* name;
  torch::ScalarType type;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DTypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DTypeInfo* dtype_by_type(torch::ScalarType type) {
  for (const auto& d : kDTypes)
    if (type == d.type) return &d;
  return nullptr;
}

// A header larger than this is certainly not a real checkpoint (the reference
// implementation caps it at 100 MB too); refusing it avoids a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct TensorEntry {
  const DTypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets into the data buffer
};

}  // namespace

struct SafetensorsFile::Impl {
  std::string path;
  int fd = -1;
  void* map = nullptr;
  size_t file_size = 0;
  const uint8_t* data = nullptr;  // start of the data buffer
  uint64_t data_size = 0;
  std::map<std::string, TensorEntry> tensors;
  std::map<std::string, std::string> metadata;

  ~Impl() {
    if (map) ::munmap(map, file_size);
    if (fd >= 0) ::close(fd);
  }

  Error tensor_error(const std::string& name, const std::string& problem) const {
    return error_at(path, "tensor '" + name + "': " + problem);
  }

  void map_file();
  json parse_header();
  void parse_entry(const std::string& name, const json& value);
  void check_no_overlap() const;
  const TensorEntry& entry(const std::string& name) const;
};

void SafetensorsFile::Impl::map_file() {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw error_at(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) throw error_at(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw error_at(path, "not a regular file");
  file_size = static_cast<size_t>(st.st_size);
  if (file_size < 8) throw error_at(path, "not a safetensors file: shorter than the 8-byte header length");
  map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    map = nullptr;
    throw error_at(path, std::string("cannot mmap: ") + std::strerror(errno));
  }
}

json SafetensorsFile::Impl::parse_header() {
  const auto* bytes = static_cast<const uint8_t*>(map);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > file_size - 8)
    throw error_at(path, "header length " + std::to_string(header_len) + " exceeds the file size " +
                             std::to_string(file_size));
  if (header_len > kMaxHeaderBytes)
    throw error_at(path, "header length " + std::to_string(header_len) + " is implausibly large");
  data = bytes + 8 + header_len;
  data_size = file_size - 8 - header_len;
  json header = parse_json(std::string_view(reinterpret_cast<const char*>(bytes + 8), header_len), path,
                           "header is not valid JSON");
  if (!header.is_object()) throw error_at(path, "header is not a JSON object");
  return header;
}

void SafetensorsFile::Impl::parse_entry(const std::string& name, const json& value) {
  if (!value.is_object()) throw tensor_error(name, "header entry is not an object");
  auto dtype_it = value.find("dtype");
  auto shape_it = value.find("shape");
  auto offsets_it = value.find("data_offsets");
  if (dtype_it == value.end() || !dtype_it->is_string()) throw tensor_error(name, "missing or non-string 'dtype'");
  if (shape_it == value.end() || !shape_it->is_array()) throw tensor_error(name, "missing or non-array 'shape'");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
    throw tensor_error(name, "'data_offsets' is not a pair of non-negative integers");

  TensorEntry e;
  e.dtype = dtype_by_name(dtype_it->get<std::string>());
  if (!e.dtype) throw tensor_error(name, "unknown dtype '" + dtype_it->get<std::string>() + "'");
  // Byte size with an overflow check: a lying shape must not wrap around to a match. The
  // product of the non-zero dimensions must fit in int64 even when a zero makes the tensor
  // empty, as LibTorch checks that too when it allocates.
  constexpr uint64_t kMaxBytes = std::numeric_limits<int64_t>::max();
  uint64_t nonzero_bytes = e.dtype->size;
  bool empty = false;
  for (const auto& dim : *shape_it) {
    if (!dim.is_number_unsigned()) throw tensor_error(name, "shape has a non-integer or negative dimension");
    uint64_t d = dim.get<uint64_t>();
    if (d == 0) {
      empty = true;
    } else if (nonzero_bytes > kMaxBytes / d) {
      throw tensor_error(name, "shape is too large");
    } else {
      nonzero_bytes *= d;
    }
    e.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t bytes = empty ? 0 : nonzero_bytes;
  e.begin = (*offsets_it)[0].get<uint64_t>();
  e.end = (*offsets_it)[1].get<uint64_t>();
  if (e.begin > e.end) throw tensor_error(name, "data_offsets begin after they end");
  if (e.end > data_size)
    throw tensor_error(name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                 "] run past the data buffer of " + std::to_string(data_size) + " bytes");
  if (e.end - e.begin != bytes)
    throw tensor_error(name, "shape x dtype size is " + std::to_string(bytes) + " bytes but data_offsets span " +
                                 std::to_string(e.end - e.begin));
  tensors.emplace(name, std::move(e));
}

void SafetensorsFile::Impl::check_no_overlap() const {
  std::vector<std::pair<const std::string*, const TensorEntry*>> order;
  for (const auto& [name, e] : tensors) order.emplace_back(&name, &e);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin : a.second->end < b.second->end;
  });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i].second->begin < order[i - 1].second->end)
      throw tensor_error(*order[i].first, "data overlaps tensor '" + *order[i - 1].first + "'");
}

const TensorEntry& SafetensorsFile::Impl::entry(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw tensor_error(name, "not in this file");
  return it->second;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->map_file();
  json header = impl_->parse_header();
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw error_at(path, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw error_at(path, "__metadata__ value '" + k + "' is not a string");
        impl_->metadata[k] = v.get<std::string>();
      }
      continue;
    }
    impl_->parse_entry(name, value);
  }
  impl_->check_no_overlap();
}

SafetensorsFile::~SafetensorsFile() = default;

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : impl_->tensors) out.push_back(kv.first);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return impl_->tensors.count(name) != 0; }

std::vector<int64_t> SafetensorsFile::shape(const std::string& name) const { return impl_->entry(name).shape; }

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorEntry& e = impl_->entry(name);
  // memcpy into a fresh tensor: the mapped bytes need not be aligned for the dtype, and the
  // caller must be able to keep the tensor after the file is closed.
  torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), impl_->data + e.begin, e.end - e.begin);
  // A checkpoint is read once: the copied bytes' whole pages leave this process's memory
  // (they stay in the page cache, and come back if read again), so that loading a model
  // holds one copy of its weights, not the mapped file besides.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = (reinterpret_cast<uintptr_t>(impl_->data + e.begin) + page - 1) / page * page;
  const auto last = reinterpret_cast<uintptr_t>(impl_->data + e.end) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return t;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }

const std::string& SafetensorsFile::path() const { return impl_->path; }

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw error_at(path, "tensor name '__metadata__' is reserved");
    const DTypeInfo* dtype = dtype_by_type(tensor.scalar_type());
    if (!dtype)
      throw error_at(path, "tensor '" + name + "': dtype " + std::string(c10::toString(tensor.scalar_type())) +
                               " cannot be stored in safetensors");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype->size;
    header[name] = {{"dtype", dtype->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data buffer 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  AtomicFile out(path);
  FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) throw error_at(out.temp_path(), std::string("cannot create: ") + std::strerror(errno));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& t : data) {
    size_t n = static_cast<size_t>(t.numel()) * t.element_size();
    if (ok && n) ok = std::fwrite(t.data_ptr(), 1, n, f) == n;
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) throw error_at(out.temp_path(), std::string("write failed: ") + std::strerror(errno));
  out.commit();
}

}  // namespace sherl
