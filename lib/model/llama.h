#pragma once
// Llama-style decoders (model_type llama, mistral, qwen2), as transformers' LlamaModel /
// MistralModel / Qwen2Model run over a whole sequence: token embeddings, L pre-norm layers
// with RMS norms, grouped-query causal attention with rotary positions (rope_theta; no
// scaling or `linear` scaling), query/key/value biases where the config has them (Qwen2),
// a SwiGLU MLP; pool() takes the last real token after the final RMS norm. A causal-LM
// checkpoint ("model." names and an LM head) loads too: the head is ignored.
#include "lib/model/layer_stack.h"
#include "lib/model/model_config.h"

namespace sherl {

struct LlamaConfig {
  std::string model_type;
  EncoderLayerOptions layer;
  int64_t num_layers = 0, vocab_size = 0, pad_token_id = 0;
  double rope_theta = 10000, rope_factor = 1;  // positions are divided by the factor (linear scaling)
  int64_t sliding_window = 0;                  // Mistral: tokens a query may see; 0 = all
};
// Reads and checks config.json (hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, head_dim, intermediate_size, rms_norm_eps, hidden_act silu,
// rope_theta, rope_scaling, attention_bias, sliding_window).
LlamaConfig read_llama_config(const ModelConfig& config);

class LlamaBackboneImpl : public LayerStackBackboneImpl {
 public:
  LlamaBackboneImpl(const ModelConfig& config, BackboneScope scope);
  void load(const std::string& model_dir);

  std::string model_type() const override { return config_.model_type; }
  int64_t hidden_size() const override { return config_.layer.hidden_size; }
  bool is_text() const override { return true; }
  PoolingKind pooling() const override { return PoolingKind::LastToken; }
  AttentionKind attention() const override { return AttentionKind::Causal; }
  torch::Tensor embed(const ModelInputs& inputs) override;
  // The padding and causal bias, and the rotary tables of positions 0..T-1.
  LayerState layer_state(const torch::Tensor& mask, const torch::Tensor& like) const override;
  int64_t pad_token_id() const override { return config_.pad_token_id; }

 protected:
  torch::Tensor final_norm(const torch::Tensor& rows) override { return final_norm_(rows); }

 private:
  LlamaConfig config_;
  torch::nn::Embedding embed_tokens_{nullptr};
  Norm final_norm_{nullptr};
};

// cos and sin [T, head_dim] of the rotary angles of positions 0..T-1 (divided by `factor`):
// angle (p, i) = p / factor * theta^(-2i/head_dim) for i < head_dim/2, repeated for the second
// half, computed in float32 as Hugging Face does.
std::pair<torch::Tensor, torch::Tensor> rotary_tables(int64_t T, int64_t head_dim, double theta, double factor,
                                                      torch::Device device);

}  // namespace sherl
