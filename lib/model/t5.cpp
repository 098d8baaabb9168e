#include "lib/model/t5.h"

#include <cmath>

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/text_inputs.h"

namespace sherl {
namespace {

// Hugging Face's feed_forward_proj: "relu" (T5 1.0) or "gated-gelu" (T5 1.1, Flan-T5, mT5,
// whose gelu is the tanh approximation).
void read_feed_forward(const ModelConfig& config, EncoderLayerOptions& o) {
  const std::string proj = config.get_string("feed_forward_proj", "relu");
  if (proj == "relu") {
    o.mlp = MlpKind::Plain;
    o.activation = Activation::Relu;
  } else if (proj == "gated-gelu") {
    o.mlp = MlpKind::Gated;
    o.activation = Activation::GeluTanh;
  } else {
    throw config.error("feed_forward_proj", "'" + proj + "' is not supported (relu, gated-gelu)");
  }
}

EncoderLayerNames t5_layer_names(MlpKind mlp) {
  EncoderLayerNames n;
  n.query = "0.SelfAttention.q";
  n.key = "0.SelfAttention.k";
  n.value = "0.SelfAttention.v";
  n.attention_out = "0.SelfAttention.o";
  n.mlp_in = mlp == MlpKind::Gated ? "1.DenseReluDense.wi_0" : "1.DenseReluDense.wi";
  n.mlp_up = "1.DenseReluDense.wi_1";
  n.mlp_out = "1.DenseReluDense.wo";
  n.norm_attention = "0.layer_norm";
  n.norm_mlp = "1.layer_norm";
  return n;
}

std::string layer_prefix(int64_t i) { return "encoder.block." + std::to_string(i) + ".layer"; }

}  // namespace

T5Config read_t5_config(const ModelConfig& config) {
  T5Config c;
  c.model_type = config.require_string("model_type");
  if (c.model_type == "umt5")
    throw config.error("model_type", "'umt5' (a relative position bias in every layer) is not supported (t5, mt5)");
  EncoderLayerOptions& o = c.layer;
  o.hidden_size = config.require_positive_int("d_model");
  o.num_heads = config.require_positive_int("num_heads");
  o.head_dim = config.get_int("d_kv", 64);
  if (o.head_dim <= 0) throw config.error("d_kv", "must be positive");
  o.intermediate_size = config.require_positive_int("d_ff");
  o.norm = NormKind::Rms;
  o.norm_eps = config.get_double("layer_norm_epsilon", 1e-6);
  if (!(o.norm_eps > 0)) throw config.error("layer_norm_epsilon", "must be positive");
  o.pre_norm = true;
  o.qkv_bias = o.out_bias = o.mlp_bias = o.scale_scores = false;
  read_feed_forward(config, o);
  c.num_layers = config.require_positive_int("num_layers");
  c.vocab_size = config.require_positive_int("vocab_size");
  c.pad_token_id = config.get_int("pad_token_id", 0);
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size)
    throw config.error("pad_token_id", std::to_string(c.pad_token_id) + " is outside the vocabulary of " +
                                           std::to_string(c.vocab_size));
  c.relative_buckets = config.get_int("relative_attention_num_buckets", 32);
  if (c.relative_buckets < 4) throw config.error("relative_attention_num_buckets", "must be at least 4");
  c.relative_max_distance = config.get_int("relative_attention_max_distance", 128);
  if (c.relative_max_distance <= c.relative_buckets / 4)
    throw config.error("relative_attention_max_distance",
                       "must exceed a quarter of relative_attention_num_buckets (the exact distances)");
  return c;
}

torch::Tensor t5_relative_position_bucket(const torch::Tensor& relative, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2, exact = half / 2;
  auto bucket = relative.gt(0).to(torch::kInt64) * half;
  auto distance = relative.abs();
  // Distance 0 gives log(0) here, but the exact branch is taken for it.
  auto large = exact + (torch::log(distance.to(torch::kFloat32) / static_cast<double>(exact)) /
                        std::log(static_cast<double>(max_distance) / static_cast<double>(exact)) *
                        static_cast<double>(half - exact))
                           .to(torch::kInt64);
  large = torch::clamp_max(large, half - 1);
  return bucket + torch::where(distance.lt(exact), distance, large);
}

T5BackboneImpl::T5BackboneImpl(const ModelConfig& config, BackboneScope scope)
    : LayerStackBackboneImpl(scope), config_(read_t5_config(config)) {
  const int64_t d = config_.layer.hidden_size;
  if (builds_embeddings()) shared_ = register_module("shared", torch::nn::Embedding(config_.vocab_size, d));
  // Every layer's position bias, the late ones' too.
  relative_attention_bias_ = register_module(
      "relative_attention_bias", torch::nn::Embedding(config_.relative_buckets, config_.layer.num_heads));
  add_layers(config_.num_layers, config_.layer);
  final_norm_ = register_module("final_norm", Norm(NormKind::Rms, d, config_.layer.norm_eps));
}

void T5BackboneImpl::load(const std::string& model_dir) {
  Checkpoint ckpt(model_dir, {});
  // The table is tied: T5EncoderModel and T5ForConditionalGeneration save it as "shared";
  // some files keep only its encoder name.
  if (builds_embeddings())
    ckpt.load(shared_->weight, ckpt.contains("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight");
  ckpt.load(relative_attention_bias_->weight, layer_prefix(0) + ".0.SelfAttention.relative_attention_bias.weight");
  const EncoderLayerNames names = t5_layer_names(config_.layer.mlp);
  for (int64_t i = 0; i < config_.num_layers; ++i) load_layer(i, ckpt, layer_prefix(i), names);
  final_norm_->load(ckpt, "encoder.final_layer_norm");
}

torch::Tensor T5BackboneImpl::embed(const ModelInputs& inputs) {
  require_embeddings();
  auto ids = checked_input_ids(model_type(), inputs, config_.vocab_size, shared_->weight.device());
  refuse_token_types(model_type(), inputs);
  return shared_(ids);
}


torch::Tensor T5BackboneImpl::position_bias(int64_t T, const torch::Tensor& like) const {
  auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(like.device()));
  auto relative = positions.unsqueeze(0) - positions.unsqueeze(1);  // [query, key]: key - query
  auto buckets = t5_relative_position_bucket(relative, config_.relative_buckets, config_.relative_max_distance);
  return torch::embedding(relative_attention_bias_->weight, buckets).permute({2, 0, 1}).unsqueeze(0).to(like.scalar_type());
}

LayerState T5BackboneImpl::layer_state(const torch::Tensor& mask, const torch::Tensor& like) const {
  LayerState state = BackboneImpl::layer_state(mask, like);
  torch::Tensor bias = position_bias(like.size(1), like);
  state.attention_bias = state.attention_bias.defined() ? state.attention_bias + bias : bias;
  return state;
}

}  // namespace sherl
