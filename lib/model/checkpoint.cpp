#include "lib/model/checkpoint.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "lib/core/error.h"
#include "lib/core/json.h"

namespace fs = std::filesystem;

namespace sherl {
namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

// name -> shard file name, from the index; shard names must be plain file names.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  json index = read_json_file(index_path);
  auto it = index.find("weight_map");
  if (!index.is_object() || it == index.end() || !it->is_object())
    throw error_at(index_path, "key 'weight_map': missing or not an object");
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : it->items()) {
    if (!file.is_string()) throw error_at(index_path, "tensor '" + name + "': shard file name is not a string");
    std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      throw error_at(index_path, "tensor '" + name + "': shard file name '" + f + "' is not a plain file name");
    map[name] = f;
  }
  return map;
}

}  // namespace

std::vector<std::string> checkpoint_files(const std::string& model_dir) {
  fs::path dir(model_dir);
  // Same preference as transformers' from_pretrained: the single file first, then the index.
  if (fs::exists(dir / kSingleFile)) return {(dir / kSingleFile).string()};
  if (fs::exists(dir / kIndexFile)) {
    std::set<std::string> names;
    for (const auto& kv : read_weight_map((dir / kIndexFile).string())) names.insert(kv.second);
    std::vector<std::string> files;
    for (const auto& n : names) files.push_back((dir / n).string());
    return files;
  }
  throw error_at(model_dir, "no model.safetensors or model.safetensors.index.json (other weight formats are not supported)");
}

Checkpoint::Checkpoint(const std::string& model_dir, std::vector<std::string> prefixes)
    : prefixes_(std::move(prefixes)) {
  fs::path dir(model_dir);
  const std::vector<std::string> paths = checkpoint_files(model_dir);  // throws when there are none
  std::map<std::string, std::string> weight_map;
  if (fs::exists(dir / kSingleFile)) {
    where_ = (dir / kSingleFile).string();
  } else {
    where_ = (dir / kIndexFile).string();
    weight_map = read_weight_map(where_);
  }
  for (const auto& path : paths) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    for (const auto& name : files_.back()->names()) owner_[name] = files_.back().get();
  }
  // The index must tell the truth, or a tensor would silently come from the wrong shard.
  for (const auto& [name, file] : weight_map) {
    auto it = owner_.find(name);
    if (it == owner_.end() || fs::path(it->second->path()).filename() != file)
      throw error_at((dir / file).string(), "tensor '" + name + "': listed in " + std::string(kIndexFile) +
                                                " but not in this file");
  }
}

bool Checkpoint::contains(const std::string& name) const {
  if (owner_.count(name)) return true;
  for (const auto& prefix : prefixes_)
    if (owner_.count(prefix + name)) return true;
  return false;
}

Checkpoint::Found Checkpoint::find(const std::string& name) const {
  auto it = owner_.find(name);
  if (it != owner_.end()) return {it->second, name};
  for (const auto& prefix : prefixes_) {
    it = owner_.find(prefix + name);
    if (it != owner_.end()) return {it->second, prefix + name};
  }
  throw error_at(where_, "tensor '" + name + "': missing");
}

std::vector<int64_t> Checkpoint::shape(const std::string& name) const {
  const Found f = find(name);
  return f.file->shape(f.stored_name);
}

torch::Tensor Checkpoint::get(const std::string& name, at::IntArrayRef expected_shape) const {
  Found f = find(name);
  std::vector<int64_t> shape = f.file->shape(f.stored_name);
  if (at::IntArrayRef(shape) != expected_shape)
    throw error_at(f.file->path(), "tensor '" + f.stored_name + "': shape " + shape_string(shape) +
                                       " where config.json implies " + shape_string(expected_shape));
  torch::Tensor t = f.file->get(f.stored_name);
  if (!t.is_floating_point())
    throw error_at(f.file->path(), "tensor '" + f.stored_name + "': dtype " +
                                       std::string(c10::toString(t.scalar_type())) + " is not a floating type");
  return t.to(torch::kFloat32);
}

void Checkpoint::load(torch::Tensor& param, const std::string& name) const {
  torch::NoGradGuard no_grad;
  param.copy_(get(name, param.sizes()));
}

}  // namespace sherl
