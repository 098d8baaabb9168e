#include "sherl/method/adapter_io.h"

#include "lib/core/atomic_file.h"
#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/model/safetensors.h"

#include <filesystem>
#include <set>
#include <sstream>

namespace sherl {
namespace {

const char* const kHeadPrefix = "head.";

std::string shape_string(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

// Typed access to a required key, with errors that name the file and the key.
const json& field(const json& j, const std::string& key, const std::string& where) {
  if (!j.is_object()) throw error_at(where, "expected a JSON object holding '" + key + "'");
  auto it = j.find(key);
  if (it == j.end()) throw error_at(where, "missing key '" + key + "'");
  return *it;
}

template <typename T>
T get(const json& j, const std::string& key, const std::string& where) {
  const json& v = field(j, key, where);
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    throw error_at(where, "key '" + key + "' has the wrong type (" + std::string(v.type_name()) + ")");
  }
}

constexpr EnumName<Method> kMethodNames[] = {{Method::Sherl, "sherl"}, {Method::Linear, "linear"}};

json method_json(Method method, const MtsaOptions& o) {
  return {{"name", to_string(method)},                   {"projection", to_string(o.projection)}, {"output", to_string(o.output)},
          {"downsample_factor", o.downsample_factor}, {"temperature", o.temperature},
          {"dropout", o.dropout},           {"hidden_size", o.hidden_size},
          {"projection_size", o.projection_size()},    {"num_tiers", o.num_tiers}};
}

MtsaOptions method_from_json(const json& j, const std::string& where) {
  MtsaOptions o;
  try {
    o.projection = parse_projection_kind(get<std::string>(j, "projection", where));
    o.output = parse_output_kind(get<std::string>(j, "output", where));
  } catch (const Error& e) {
    throw error_at(where, e);
  }
  o.downsample_factor = get<int64_t>(j, "downsample_factor", where);
  o.temperature = get<double>(j, "temperature", where);
  o.dropout = get<double>(j, "dropout", where);
  o.hidden_size = get<int64_t>(j, "hidden_size", where);
  o.num_tiers = get<int64_t>(j, "num_tiers", where);
  return o;
}

bool same_options(const MtsaOptions& a, const MtsaOptions& b) {
  return a.num_tiers == b.num_tiers && a.hidden_size == b.hidden_size &&
         a.downsample_factor == b.downsample_factor && a.projection == b.projection &&
         a.output == b.output && a.dropout == b.dropout && a.temperature == b.temperature;
}

// The consistency rules of an adapter's description; `where` prefixes every error.
void validate_info(const AdapterInfo& info, const std::string& where) {
  try {
    info.mtsa.validate();
  } catch (const Error& e) {
    throw error_at(where, e.what());
  }
  if (info.tiers.empty()) throw error_at(where, "no tiers");
  for (size_t i = 0; i < info.tiers.size(); ++i)
    if (info.tiers[i] < 0 || (i > 0 && info.tiers[i] <= info.tiers[i - 1]))
      throw error_at(where, "tiers must be non-negative and strictly increasing");
  if (static_cast<int64_t>(info.tiers.size()) != info.mtsa.num_tiers)
    throw error_at(where, std::to_string(info.tiers.size()) + " tiers but the MTSA has " +
                              std::to_string(info.mtsa.num_tiers));
  if (info.late_layers < 1) throw error_at(where, "late_layers must be at least 1");
  if (info.backbone.hidden_size > 0 && info.backbone.hidden_size != info.mtsa.hidden_size)
    throw error_at(where, "MTSA hidden size " + std::to_string(info.mtsa.hidden_size) +
                              " differs from the backbone's " + std::to_string(info.backbone.hidden_size));
  // The last tier is the input of the first late layer (docs/method.md, "Tiers").
  if (info.backbone.num_layers > 0 && info.tiers.back() != info.backbone.num_layers - info.late_layers)
    throw error_at(where, "last tier " + std::to_string(info.tiers.back()) + " is not the input of the first late layer (" +
                              std::to_string(info.backbone.num_layers - info.late_layers) + " for " +
                              std::to_string(info.backbone.num_layers) + " layers, " +
                              std::to_string(info.late_layers) + " late)");
  if (info.num_outputs < 1) throw error_at(where, "num_outputs must be positive");
  if (!info.label_names.empty() && static_cast<int64_t>(info.label_names.size()) != info.num_outputs)
    throw error_at(where, std::to_string(info.label_names.size()) + " label names for " +
                              std::to_string(info.num_outputs) + " outputs");
}

json info_json(const AdapterInfo& info, const std::string& weights_sha256, int64_t parameters) {
  json j;
  j["format"] = kAdapterFormat;
  j["version"] = kAdapterVersion;
  j["method"] = method_json(info.method, info.mtsa);
  j["tiers"] = info.tiers;
  j["late_layers"] = info.late_layers;
  j["task"] = task_name(info.task);
  j["num_outputs"] = info.num_outputs;
  j["label_names"] = info.label_names;
  j["backbone"] = to_json(info.backbone);
  j["weights"] = {{"file", "adapter.safetensors"}, {"sha256", weights_sha256}, {"parameters", parameters}};
  j["training"] = info.training;
  j["metrics"] = info.metrics;
  return j;
}

AdapterInfo info_from_json(const json& j, const std::string& where) {
  const std::string format = get<std::string>(j, "format", where);
  if (format != kAdapterFormat)
    throw error_at(where, "format is '" + format + "', expected '" + kAdapterFormat + "'");
  const int64_t version = get<int64_t>(j, "version", where);
  if (version != kAdapterVersion)
    throw error_at(where, "unsupported version " + std::to_string(version) + " (this build reads " +
                              std::to_string(kAdapterVersion) + ")");
  AdapterInfo info;
  try {
    info.method = parse_method(get<std::string>(field(j, "method", where), "name", where + ": method"));
  } catch (const Error& e) {
    throw error_at(where, e);
  }
  info.mtsa = method_from_json(field(j, "method", where), where + ": method");
  info.tiers = get<std::vector<int64_t>>(j, "tiers", where);
  info.late_layers = get<int64_t>(j, "late_layers", where);
  try {
    info.task = parse_task(get<std::string>(j, "task", where));
  } catch (const Error& e) {
    throw error_at(where, e.what());
  }
  info.num_outputs = get<int64_t>(j, "num_outputs", where);
  info.label_names = get<std::vector<std::string>>(j, "label_names", where);
  info.backbone = backbone_identity_from_json(field(j, "backbone", where), where + ": backbone");
  info.training = j.value("training", json::object());
  info.metrics = j.value("metrics", json::object());
  validate_info(info, where);
  return info;
}

// Every tensor of the file must be a parameter of the modules with the same shape, and
// every parameter must be in the file.
void check_tensor_set(const SafetensorsFile& file, const std::map<std::string, torch::Tensor>& expected,
                      const std::string& where) {
  std::set<std::string> present;
  for (const std::string& name : file.names()) {
    present.insert(name);
    auto it = expected.find(name);
    if (it == expected.end())
      throw error_at(where, "unexpected tensor '" + name + "' (not a parameter of the adapter in adapter.json)");
    std::vector<int64_t> shape = file.shape(name);
    if (c10::IntArrayRef(shape) != it->second.sizes())
      throw error_at(where, "tensor '" + name + "' has shape " + shape_string(shape) + ", expected " +
                                shape_string(it->second.sizes()) + " from adapter.json");
  }
  for (const auto& kv : expected)
    if (!present.count(kv.first)) throw error_at(where, "missing tensor '" + kv.first + "'");
}

}  // namespace

std::string to_string(Method m) { return name_of(kMethodNames, m); }
Method parse_method(const std::string& s) { return parse_name(kMethodNames, s, "method"); }

std::string adapter_json_path(const std::string& dir) { return dir + "/adapter.json"; }
std::string adapter_weights_path(const std::string& dir) { return dir + "/adapter.safetensors"; }

std::map<std::string, torch::Tensor> adapter_tensors(Mtsa& mtsa, Head& head) {
  std::map<std::string, torch::Tensor> out;
  auto cpu_f32 = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat).contiguous(); };
  if (mtsa)
    for (const auto& p : mtsa->named_parameters()) out[p.key()] = cpu_f32(p.value());
  for (const auto& p : head->named_parameters()) out[kHeadPrefix + p.key()] = cpu_f32(p.value());
  return out;
}

void save_adapter(const std::string& dir, const AdapterInfo& info_in, Mtsa& mtsa, Head& head) {
  AdapterInfo info = info_in;
  info.method = mtsa ? Method::Sherl : Method::Linear;
  validate_info(info, dir);
  if (mtsa && !same_options(info.mtsa, mtsa->options()))
    throw error_at(dir, "the MTSA's options differ from the adapter description being saved");
  if (head->hidden_size() != info.mtsa.hidden_size || head->num_outputs() != info.num_outputs)
    throw error_at(dir, "the head is " + std::to_string(head->hidden_size()) + " -> " +
                            std::to_string(head->num_outputs()) + ", expected " +
                            std::to_string(info.mtsa.hidden_size) + " -> " + std::to_string(info.num_outputs));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw error_at(dir, "cannot create directory: " + ec.message());

  auto tensors = adapter_tensors(mtsa, head);
  int64_t parameters = 0;
  for (const auto& kv : tensors) parameters += kv.second.numel();
  const std::string weights = adapter_weights_path(dir);
  write_safetensors(weights, tensors, {{"format", kAdapterFormat}});
  // adapter.json last: it names the checksum of the weights it belongs to.
  write_file_atomic(adapter_json_path(dir), info_json(info, sha256_file(weights), parameters).dump(2) + "\n");
}

AdapterInfo read_adapter_info(const std::string& dir) {
  const std::string path = adapter_json_path(dir);
  if (!std::filesystem::exists(path)) throw error_at(path, "no such file (not an adapter directory?)");
  return info_from_json(read_json_file(path), path);
}

Adapter load_adapter(const std::string& dir, torch::Device device) {
  const std::string json_path = adapter_json_path(dir), weights = adapter_weights_path(dir);
  Adapter a;
  a.info = read_adapter_info(dir);
  if (!std::filesystem::exists(weights)) throw error_at(weights, "no such file");
  const std::string expected_sha = get<std::string>(
      field(read_json_file(json_path), "weights", json_path), "sha256", json_path + ": weights");
  if (sha256_file(weights) != expected_sha)
    throw error_at(weights, "SHA-256 differs from the one recorded in adapter.json (files of different saves?)");

  if (a.info.method == Method::Sherl) a.mtsa = Mtsa(a.info.mtsa);
  a.head = Head(a.info.mtsa.hidden_size, a.info.num_outputs);
  std::map<std::string, torch::Tensor> params;
  if (a.mtsa)
    for (auto& p : a.mtsa->named_parameters()) params[p.key()] = p.value();
  for (auto& p : a.head->named_parameters()) params[kHeadPrefix + p.key()] = p.value();

  SafetensorsFile file(weights);
  check_tensor_set(file, params, weights);
  torch::NoGradGuard no_grad;
  for (auto& kv : params) {
    torch::Tensor t = file.get(kv.first);
    if (!t.is_floating_point())
      throw error_at(weights, "tensor '" + kv.first + "' is not floating-point");
    kv.second.copy_(t);
  }
  if (a.mtsa) {
    a.mtsa->to(device);
    a.mtsa->eval();
  }
  a.head->to(device);
  a.head->eval();
  return a;
}

}  // namespace sherl
