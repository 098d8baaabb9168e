#include "lib/model/model_config.h"

#include <filesystem>

namespace sherl {

ModelConfig::ModelConfig(const std::string& model_dir, Tower tower)
    : path_((std::filesystem::path(model_dir) / "config.json").string()), where_(path_), json_(read_json_file(path_)) {
  if (!json_.is_object()) throw error_at(path_, "not a JSON object");
  const bool two_towers = json_.value("model_type", json()) == "clip";
  json_ = tower_config(json_, tower, path_);
  if (two_towers) where_ += tower == Tower::Text ? " (text_config)" : " (vision_config)";
}

Error ModelConfig::error(const std::string& key, const std::string& problem) const {
  return error_at(where_, "key '" + key + "': " + problem);
}

bool ModelConfig::has(const std::string& key) const {
  auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

int64_t ModelConfig::require_int(const std::string& key) const {
  if (!has(key)) throw error(key, "missing");
  const json& v = json_.at(key);
  if (!v.is_number_integer()) throw error(key, "expected an integer, found " + v.dump());
  return v.get<int64_t>();
}

int64_t ModelConfig::require_positive_int(const std::string& key) const {
  int64_t v = require_int(key);
  if (v <= 0) throw error(key, "must be positive, found " + std::to_string(v));
  return v;
}

std::string ModelConfig::require_string(const std::string& key) const {
  if (!has(key)) throw error(key, "missing");
  const json& v = json_.at(key);
  if (!v.is_string()) throw error(key, "expected a string, found " + v.dump());
  return v.get<std::string>();
}

int64_t ModelConfig::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? require_int(key) : fallback;
}

double ModelConfig::get_double(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const json& v = json_.at(key);
  if (!v.is_number()) throw error(key, "expected a number, found " + v.dump());
  return v.get<double>();
}

std::string ModelConfig::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? require_string(key) : fallback;
}

bool ModelConfig::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const json& v = json_.at(key);
  if (!v.is_boolean()) throw error(key, "expected true or false, found " + v.dump());
  return v.get<bool>();
}

json ModelConfig::get_object(const std::string& key) const {
  if (!has(key)) return nullptr;
  const json& v = json_.at(key);
  if (!v.is_object()) throw error(key, "expected an object");
  return v;
}

namespace {

bool is_clip_tower(const std::string& model_type) { return tower_of(model_type) != Tower::Whole; }

Activation parse_activation(const ModelConfig& config, const std::string& model_type) {
  // Each family's Hugging Face default: CLIP's towers quick_gelu, BERT and ViT gelu.
  std::string act = config.get_string("hidden_act", is_clip_tower(model_type) ? "quick_gelu" : "gelu");
  if (act == "gelu") return Activation::GeluErf;
  // gelu_new and gelu_pytorch_tanh are the same tanh approximation, written two ways.
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return Activation::GeluTanh;
  if (act == "relu") return Activation::Relu;
  if (act == "quick_gelu") return Activation::QuickGelu;  // CLIP
  throw config.error("hidden_act",
                     "'" + act + "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, quick_gelu)");
}

}  // namespace

EncoderConfig read_encoder_config(const ModelConfig& config) {
  EncoderConfig c;
  c.model_type = config.require_string("model_type");
  c.hidden_size = config.require_positive_int("hidden_size");
  c.num_layers = config.require_positive_int("num_hidden_layers");
  c.num_heads = config.require_positive_int("num_attention_heads");
  c.intermediate_size = config.require_positive_int("intermediate_size");
  if (c.hidden_size % c.num_heads != 0)
    throw config.error("num_attention_heads", std::to_string(c.num_heads) + " does not divide hidden_size " +
                                                  std::to_string(c.hidden_size));
  c.activation = parse_activation(config, c.model_type);
  c.layer_norm_eps = config.get_double("layer_norm_eps", is_clip_tower(c.model_type) ? 1e-5 : 1e-12);
  if (!(c.layer_norm_eps > 0)) throw config.error("layer_norm_eps", "must be positive");
  if (config.get_bool("is_decoder", false)) throw config.error("is_decoder", "decoders are not supported");
  if (config.get_bool("add_cross_attention", false))
    throw config.error("add_cross_attention", "cross-attention is not supported");
  return c;
}

}  // namespace sherl
