#pragma once
// The adapter directory (formats/adapter.md): what training produces and what the late
// route and evaluation load. Two files:
//   adapter.safetensors  the MTSA's and the head's parameters (float32), named as
//                        Mtsa::named_parameters() plus head.weight / head.bias; for the
//                        linear-probe baseline (no MTSA) only the head's
//   adapter.json         format "sherl-adapter", version 1: the method settings, tiers,
//                        late-layer count, task, labels, backbone identity, the SHA-256 of
//                        adapter.safetensors, and free-form training arguments and metrics
// Each file is written atomically, adapter.json last; the checksum in adapter.json ties
// the pair together, so a reader never mixes files of two different saves.
#include "lib/core/json.h"
#include "lib/shard/shard.h"
#include "sherl/method/head.h"
#include "sherl/method/mtsa.h"

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sherl {

inline constexpr const char* kAdapterFormat = "sherl-adapter";
inline constexpr int kAdapterVersion = 1;

// "sherl": MTSA + head through the late route; "linear": the linear-probe baseline, a head
// on the unadapted final feature.
enum class Method { Sherl, Linear };
std::string to_string(Method m);
Method parse_method(const std::string& s);  // throws sherl::Error naming the choices

struct AdapterInfo {
  // Set by read/load; save_adapter writes what its modules are (a null Mtsa = linear) and
  // ignores this field.
  Method method = Method::Sherl;
  MtsaOptions mtsa;                      // num_tiers must equal tiers.size(); recorded for "linear" too
  std::vector<int64_t> tiers;            // stored tier indices used (0 = embeddings), last = `last`
  int64_t late_layers = 1;               // K
  Task task = LabelKind::Class;
  int64_t num_outputs = 0;               // classes / regression targets / labels
  std::vector<std::string> label_names;  // optional; when present, num_outputs of them
  BackboneIdentity backbone;
  json training = json::object();        // free-form: training arguments
  json metrics = json::object();         // free-form: final metrics
};

struct Adapter {
  AdapterInfo info;
  Mtsa mtsa{nullptr};  // null for method "linear"
  Head head{nullptr};
};

std::string adapter_json_path(const std::string& dir);         // <dir>/adapter.json
std::string adapter_weights_path(const std::string& dir);      // <dir>/adapter.safetensors

// The tensors saved for an adapter (float32 CPU copies), by adapter name; mtsa may be null.
std::map<std::string, torch::Tensor> adapter_tensors(Mtsa& mtsa, Head& head);

// mtsa may be null (method "linear"). Creates dir when missing; throws sherl::Error("<dir>: ...") when the modules do not
// match info (tier count, hidden size, outputs) or the files cannot be written.
void save_adapter(const std::string& dir, const AdapterInfo& info, Mtsa& mtsa, Head& head);

// Reads and validates adapter.json only.
AdapterInfo read_adapter_info(const std::string& dir);

// Reads adapter.json and adapter.safetensors, checks the format, version, checksum, the
// set of tensor names and every shape, and builds the modules on `device` (float32, in
// eval mode). Errors name the file: "<dir>/adapter.json: ..." or "<dir>/adapter.safetensors: ...".
Adapter load_adapter(const std::string& dir, torch::Device device = torch::kCPU);

}  // namespace sherl
