#pragma once
// Typed access to a Hugging Face config.json. Every problem is a sherl::Error naming
// config.json and the key, e.g. "m/config.json: key 'hidden_act': 'swiglu' is not supported".
#include <cstdint>
#include <string>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/types.h"

namespace sherl {

class ModelConfig {
 public:
  // The keys of `tower` (types.h: a CLIPModel's text_config or vision_config); errors then
  // name the sub-object, e.g. "m/config.json (text_config): key 'hidden_size': missing".
  explicit ModelConfig(const std::string& model_dir, Tower tower = Tower::Whole);
  // config.json itself (whose bytes the backbone's identity hashes).
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const;
  // require_*: the key must be present; get_*: the fallback is Hugging Face's default.
  int64_t require_int(const std::string& key) const;
  int64_t require_positive_int(const std::string& key) const;
  std::string require_string(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  // An object-valued key (e.g. rope_scaling); null when absent or null.
  json get_object(const std::string& key) const;
  Error error(const std::string& key, const std::string& problem) const;

 private:
  std::string path_, where_;
  json json_;
};

// What every supported encoder shares.
enum class Activation { GeluErf, GeluTanh, Relu, Silu, QuickGelu };

struct EncoderConfig {
  std::string model_type;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  Activation activation = Activation::GeluErf;
  double layer_norm_eps = 1e-12;
};

// Reads and checks the encoder keys (hidden_size divisible by num_attention_heads, a known
// hidden_act, no decoder / cross-attention).
EncoderConfig read_encoder_config(const ModelConfig& config);

}  // namespace sherl
