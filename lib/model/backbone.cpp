#include "lib/model/backbone.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/model/bert.h"
#include "lib/model/checkpoint.h"
#include "lib/model/clip_text.h"
#include "lib/model/llama.h"
#include "lib/model/model_config.h"
#include "lib/model/safetensors.h"
#include "lib/model/t5.h"
#include "lib/model/vit.h"

namespace sherl {
namespace {

// config.json's names for the sizes that the checks and the identity read (T5 has its own),
// and which families' keys they are.
struct SizeKeys {
  const char* hidden;        // the model's width
  const char* layers;
  const char* intermediate;  // the MLP's width
  const char* heads;
  bool t5 = false, decoder = false;
};

SizeKeys size_keys(const ModelConfig& config) {
  const BackboneFamily family = backbone_family(config.get_string("model_type", ""));
  if (family == BackboneFamily::T5) return {"d_model", "num_layers", "d_ff", "num_heads", true, false};
  return {"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", false,
          family == BackboneFamily::Decoder};
}

template <typename Model>
Backbone build(const ModelConfig& config, const std::string& model_dir, torch::Device device, BackboneScope scope) {
  auto model = std::make_shared<Model>(config, scope);
  model->load(model_dir);
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  model->eval();
  model->to(device, scope.dtype);  // the layers are in scope.dtype already; the rest follows
  return model;
}

void hash_file_into(Sha256& hash, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(path, "cannot open for reading");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) hash.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw error_at(path, "read failed");
}

// Values stored in the checkpoint's tensors, from the safetensors headers alone.
double checkpoint_values(const std::string& model_dir) {
  double total = 0;
  for (const auto& path : checkpoint_files(model_dir)) {
    SafetensorsFile file(path);
    for (const auto& name : file.names()) {
      double n = 1;
      for (int64_t s : file.shape(name)) n *= static_cast<double>(s);
      total += n;
    }
  }
  return total;
}

// Every size in config.json becomes a tensor the checkpoint must hold, and the modules are
// allocated before the first shape is compared: a config that implies more values than the
// checkpoint holds (a hostile or mismatched one) would exhaust memory first. The width and
// the feed-forward size are bounded by the one matrix each implies; then the values all the
// sizes imply together (a lower bound: biases and norms left out) are bounded by what the
// checkpoint holds, naming the key with the largest share.
void check_config_fits_checkpoint(const ModelConfig& config, const std::string& model_dir) {
  double held = 0;
  try {
    held = checkpoint_values(model_dir);
  } catch (const Error&) {
    return;  // no weights or a malformed file: loading them reports it, after the config's own checks
  }
  auto size = [&](const char* key, int64_t fallback) { return static_cast<double>(config.get_int(key, fallback)); };
  auto refuse = [&](const std::string& key, double values) {
    return config.error(key, std::to_string(config.get_int(key, 0)) + " implies " +
                                 std::to_string(static_cast<long long>(std::min(values, 9e18))) +
                                 " values, but the checkpoint holds " + std::to_string(static_cast<long long>(held)) +
                                 " in all; does config.json belong to these weights?");
  };
  const SizeKeys keys = size_keys(config);
  const double d = static_cast<double>(config.require_positive_int(keys.hidden));
  const double ff = size(keys.intermediate, 1);
  if (d * d > held) throw refuse(keys.hidden, d * d);
  if (d * ff > held) throw refuse(keys.intermediate, d * ff);
  // The attention's widths: T5 (d_kv) and the decoders (head_dim, fewer key/value heads)
  // may set them apart from the model's. Only the keys the family reads count.
  const double heads = size(keys.heads, 1);
  const double head_dim = keys.t5 ? size("d_kv", 64) : keys.decoder && config.has("head_dim") ? size("head_dim", 1) : d / heads;
  const double inner = heads * head_dim, kv_inner = keys.decoder ? size("num_key_value_heads", heads) * head_dim : inner;
  const bool encoder = !keys.t5 && !keys.decoder;  // BERT-style and vision: absolute position tables
  const double per_side = size("image_size", 0) / std::max(1.0, size("patch_size", 1));
  const std::pair<const char*, double> shares[] = {
      {keys.layers, size(keys.layers, 1) * (2 * d * inner + 2 * d * kv_inner + 2 * d * ff)},
      {"vocab_size", size("vocab_size", 0) * d},
      {"max_position_embeddings", encoder ? size("max_position_embeddings", 0) * d : 0},
      {"type_vocab_size", encoder ? size("type_vocab_size", 0) * d : 0},
      {"image_size", encoder ? per_side * per_side * d : 0},
      {"patch_size", encoder ? size("num_channels", 3) * size("patch_size", 0) * size("patch_size", 0) * d : 0},
      {"relative_attention_num_buckets", keys.t5 ? size("relative_attention_num_buckets", 32) * heads : 0},
  };
  double total = 0;
  const std::pair<const char*, double>* largest = &shares[0];
  for (const auto& share : shares) {
    total += share.second;
    if (share.second > largest->second) largest = &share;
  }
  if (total > held) throw refuse(largest->first, total);
}

}  // namespace

void check_backbone_config(const std::string& model_dir, Tower tower) {
  ModelConfig config(model_dir, tower);
  check_config_fits_checkpoint(config, model_dir);
}

Backbone load_backbone(const std::string& model_dir, torch::Device device, Tower tower, BackboneScope scope) {
  ModelConfig config(model_dir, tower);
  std::string type = config.require_string("model_type");
  check_config_fits_checkpoint(config, model_dir);
  switch (backbone_family(type)) {
    case BackboneFamily::Bert: return build<BertBackboneImpl>(config, model_dir, device, scope);
    case BackboneFamily::Vision: return build<VitBackboneImpl>(config, model_dir, device, scope);
    case BackboneFamily::T5: return build<T5BackboneImpl>(config, model_dir, device, scope);
    case BackboneFamily::Decoder: return build<LlamaBackboneImpl>(config, model_dir, device, scope);
    case BackboneFamily::ClipText: return build<ClipTextBackboneImpl>(config, model_dir, device, scope);
    case BackboneFamily::Unknown: break;
  }
  throw config.error("model_type", "'" + type +
                                       "' is not supported (bert, roberta, vit, clip (with --tower), clip_vision_model, "
                                       "clip_text_model, t5, mt5, llama, mistral, qwen2)");
}

int64_t tokens_per_image(const std::string& model_dir, Tower tower) {
  ModelConfig config(model_dir, tower);
  if (backbone_family(config.require_string("model_type")) != BackboneFamily::Vision) return 0;
  return vit_token_count(config);
}

BackboneIdentity backbone_identity(const std::string& model_dir, Tower tower) {
  ModelConfig config(model_dir, tower);
  BackboneIdentity id;
  id.model_type = config.require_string("model_type");
  const SizeKeys keys = size_keys(config);
  id.hidden_size = config.require_positive_int(keys.hidden);
  id.num_layers = config.require_positive_int(keys.layers);
  id.config_sha256 = sha256_file(config.path());
  Sha256 weights;
  for (const auto& path : checkpoint_files(model_dir)) hash_file_into(weights, path);
  id.weights_sha256 = weights.hex_digest();
  // Each present file as "name\0size\0bytes", so that moving bytes from one file to another
  // changes the digest too.
  Sha256 preprocessing;
  for (const char* const* name = preprocessing_files(); *name; ++name) {
    std::filesystem::path path = std::filesystem::path(model_dir) / *name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    preprocessing.update(std::string(*name) + '\0' + std::to_string(std::filesystem::file_size(path)) + '\0');
    hash_file_into(preprocessing, path.string());
  }
  id.preprocessing_sha256 = preprocessing.hex_digest();
  return id;
}

torch::Tensor compute_tiers(BackboneImpl& backbone, const ModelInputs& inputs, const std::vector<int64_t>& tiers) {
  if (tiers.empty()) throw Error("compute_tiers: no tiers requested");
  for (int64_t t : tiers)
    if (t < 0 || t > backbone.num_layers())
      throw Error("compute_tiers: tier " + std::to_string(t) + " is outside 0.." +
                  std::to_string(backbone.num_layers()) + " for this " + backbone.model_type() + " backbone");
  // NoGradGuard rather than InferenceMode: callers may feed the tiers to trainable modules,
  // and inference tensors cannot be saved for backward.
  torch::NoGradGuard no_grad;
  const int64_t last = *std::max_element(tiers.begin(), tiers.end());
  torch::Tensor h = backbone.embed(inputs);  // first: it validates the inputs
  const LayerState state = backbone.layer_state(backbone.token_mask(inputs), h);
  // Only the asked-for tiers are kept alive, not every layer's output.
  std::vector<torch::Tensor> kept(last + 1);
  std::vector<bool> wanted(last + 1, false);
  for (int64_t t : tiers) wanted[t] = true;
  for (int64_t t = 0;; ++t) {
    if (wanted[t]) kept[t] = h;
    if (t == last) break;
    h = backbone.layer(t, h, state);
  }
  std::vector<torch::Tensor> picked;
  for (int64_t t : tiers) picked.push_back(kept[t]);
  return torch::stack(picked, 2);
}

ModelInputs to_device(const ModelInputs& inputs, torch::Device device) {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device, /*non_blocking=*/true) : t; };
  return {move(inputs.pixel_values), move(inputs.input_ids), move(inputs.token_type_ids),
          move(inputs.attention_mask)};
}

ModelInputs pin(const ModelInputs& inputs) {
  auto pinned = [](const torch::Tensor& t) { return t.defined() ? t.pin_memory() : t; };
  return {pinned(inputs.pixel_values), pinned(inputs.input_ids), pinned(inputs.token_type_ids),
          pinned(inputs.attention_mask)};
}

}  // namespace sherl
