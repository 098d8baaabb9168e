#include "lib/model/llama.h"

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/text_inputs.h"

namespace sherl {
namespace {

// rope_scaling: none, or {"type" or "rope_type": "linear", "factor": f} (positions / f).
double read_rope_factor(const ModelConfig& config) {
  const json scaling = config.get_object("rope_scaling");
  if (scaling.is_null()) return 1;
  // rope_type takes precedence over the older spelling type, as in Hugging Face.
  std::string kind;
  for (const char* key : {"type", "rope_type"})
    if (scaling.contains(key) && scaling[key].is_string()) kind = scaling[key].get<std::string>();
  if (kind == "default") return 1;
  if (kind != "linear")
    throw config.error("rope_scaling", "'" + (kind.empty() ? scaling.dump() : kind) + "' is not supported (linear)");
  if (!scaling.contains("factor") || !scaling["factor"].is_number() || !(scaling["factor"].get<double>() >= 1))
    throw config.error("rope_scaling", "a linear scaling needs a factor of at least 1");
  return scaling["factor"].get<double>();
}

EncoderLayerNames llama_layer_names() {
  EncoderLayerNames n;
  n.query = "self_attn.q_proj";
  n.key = "self_attn.k_proj";
  n.value = "self_attn.v_proj";
  n.attention_out = "self_attn.o_proj";
  n.mlp_in = "mlp.gate_proj";
  n.mlp_up = "mlp.up_proj";
  n.mlp_out = "mlp.down_proj";
  n.norm_attention = "input_layernorm";
  n.norm_mlp = "post_attention_layernorm";
  return n;
}

}  // namespace

LlamaConfig read_llama_config(const ModelConfig& config) {
  LlamaConfig c;
  c.model_type = config.require_string("model_type");
  EncoderLayerOptions& o = c.layer;
  o.hidden_size = config.require_positive_int("hidden_size");
  o.num_heads = config.require_positive_int("num_attention_heads");
  o.num_kv_heads = config.get_int("num_key_value_heads", o.num_heads);
  if (o.num_kv_heads <= 0 || o.num_heads % o.num_kv_heads != 0)
    throw config.error("num_key_value_heads", std::to_string(o.num_kv_heads) + " does not divide num_attention_heads " +
                                                  std::to_string(o.num_heads));
  if (!config.has("head_dim") && o.hidden_size % o.num_heads != 0)
    throw config.error("num_attention_heads", std::to_string(o.num_heads) + " does not divide hidden_size " +
                                                  std::to_string(o.hidden_size));
  o.head_dim = config.get_int("head_dim", o.hidden_size / o.num_heads);
  if (o.head_dim <= 0 || o.head_dim % 2 != 0) throw config.error("head_dim", "must be positive and even (rotary halves)");
  o.intermediate_size = config.require_positive_int("intermediate_size");
  const std::string act = config.get_string("hidden_act", "silu");
  if (act != "silu") throw config.error("hidden_act", "'" + act + "' is not supported (silu)");
  o.activation = Activation::Silu;
  o.mlp = MlpKind::Gated;
  o.norm = NormKind::Rms;
  o.norm_eps = config.get_double("rms_norm_eps", 1e-6);
  if (!(o.norm_eps > 0)) throw config.error("rms_norm_eps", "must be positive");
  o.pre_norm = true;
  // Qwen2: biases on q, k and v only; Llama: attention_bias on all four projections.
  const bool qwen2 = c.model_type == "qwen2";
  o.qkv_bias = qwen2 || config.get_bool("attention_bias", false);
  o.out_bias = !qwen2 && config.get_bool("attention_bias", false);
  o.mlp_bias = config.get_bool("mlp_bias", false);
  c.num_layers = config.require_positive_int("num_hidden_layers");
  c.vocab_size = config.require_positive_int("vocab_size");
  // Any id pads: padding is masked and comes after the pooled token. -1 (early Llama
  // conversions) means none, like null.
  c.pad_token_id = std::max<int64_t>(0, config.get_int("pad_token_id", 0));
  if (c.pad_token_id >= c.vocab_size)
    throw config.error("pad_token_id", std::to_string(c.pad_token_id) + " is outside the vocabulary of " +
                                           std::to_string(c.vocab_size));
  c.rope_theta = config.get_double("rope_theta", 10000);
  if (!(c.rope_theta > 1)) throw config.error("rope_theta", "must be greater than 1");
  c.rope_factor = read_rope_factor(config);
  if (c.model_type != "qwen2" || config.get_bool("use_sliding_window", false)) c.sliding_window = config.get_int("sliding_window", 0);
  if (c.sliding_window < 0) throw config.error("sliding_window", "must not be negative");
  return c;
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(int64_t T, int64_t head_dim, double theta, double factor,
                                                      torch::Device device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) /
                                               static_cast<double>(head_dim));
  auto positions = torch::arange(T, f32) / factor;
  auto angles = torch::outer(positions, inv_freq);  // [T, head_dim / 2]
  auto both = torch::cat({angles, angles}, -1);
  return {both.cos(), both.sin()};
}

LlamaBackboneImpl::LlamaBackboneImpl(const ModelConfig& config, BackboneScope scope)
    : LayerStackBackboneImpl(scope), config_(read_llama_config(config)) {
  const int64_t d = config_.layer.hidden_size;
  if (builds_embeddings()) embed_tokens_ = register_module("embed_tokens", torch::nn::Embedding(config_.vocab_size, d));
  add_layers(config_.num_layers, config_.layer);
  final_norm_ = register_module("final_norm", Norm(NormKind::Rms, d, config_.layer.norm_eps));
}

void LlamaBackboneImpl::load(const std::string& model_dir) {
  Checkpoint ckpt(model_dir, {"model."});
  if (builds_embeddings()) ckpt.load(embed_tokens_->weight, "embed_tokens.weight");
  const EncoderLayerNames names = llama_layer_names();
  for (int64_t i = 0; i < config_.num_layers; ++i) load_layer(i, ckpt, "layers." + std::to_string(i), names);
  final_norm_->load(ckpt, "norm");
}

torch::Tensor LlamaBackboneImpl::embed(const ModelInputs& inputs) {
  require_embeddings();
  auto ids = checked_input_ids(model_type(), inputs, config_.vocab_size, embed_tokens_->weight.device());
  refuse_token_types(model_type(), inputs);
  return embed_tokens_(ids);
}


LayerState LlamaBackboneImpl::layer_state(const torch::Tensor& mask, const torch::Tensor& like) const {
  const int64_t T = like.size(1);
  if (config_.sliding_window > 0 && T > config_.sliding_window)
    throw Error(model_type() + " backbone: " + std::to_string(T) + " tokens exceed sliding_window " +
                std::to_string(config_.sliding_window) + " (a banded attention mask is not supported)");
  LayerState state = BackboneImpl::layer_state(mask, like);
  auto [cos, sin] = rotary_tables(T, config_.layer.head_dim, config_.rope_theta, config_.rope_factor, like.device());
  state.rotary_cos = cos.to(like.scalar_type());
  state.rotary_sin = sin.to(like.scalar_type());
  return state;
}

}  // namespace sherl
