#pragma once
// The T5 encoder (model_type t5 and mt5; T5 1.0, T5 1.1, Flan-T5, mT5), as transformers'
// T5EncoderModel: token embeddings (the `shared` table) without positions, L pre-norm layers
// with RMS norms, no biases and unscaled scores, and a bucketed relative position bias that
// the first layer's table gives and every layer adds (made once per batch, in the layer
// state). pool() averages the real tokens after the final RMS norm (sentence-T5). A full
// encoder-decoder checkpoint loads too: its decoder and LM head are ignored.
#include "lib/model/layer_stack.h"
#include "lib/model/model_config.h"

namespace sherl {

struct T5Config {
  std::string model_type;
  EncoderLayerOptions layer;
  int64_t num_layers = 0, vocab_size = 0, pad_token_id = 0;
  int64_t relative_buckets = 32, relative_max_distance = 128;
};
// Reads and checks config.json's T5 keys (d_model, d_kv, d_ff, num_heads, num_layers,
// feed_forward_proj: relu or gated-gelu, relative_attention_*).
T5Config read_t5_config(const ModelConfig& config);

class T5BackboneImpl : public LayerStackBackboneImpl {
 public:
  T5BackboneImpl(const ModelConfig& config, BackboneScope scope);
  void load(const std::string& model_dir);

  std::string model_type() const override { return config_.model_type; }
  int64_t hidden_size() const override { return config_.layer.hidden_size; }
  bool is_text() const override { return true; }
  PoolingKind pooling() const override { return PoolingKind::Mean; }
  torch::Tensor embed(const ModelInputs& inputs) override;
  // The padding bias plus the relative position bias: [B, heads, T, T].
  LayerState layer_state(const torch::Tensor& mask, const torch::Tensor& like) const override;
  int64_t pad_token_id() const override { return config_.pad_token_id; }

 protected:
  torch::Tensor final_norm(const torch::Tensor& rows) override { return final_norm_(rows); }

 private:
  // [1, heads, T, T]: the learned bias of each (query, key) pair's distance bucket.
  torch::Tensor position_bias(int64_t T, const torch::Tensor& like) const;

  T5Config config_;
  torch::nn::Embedding shared_{nullptr};
  torch::nn::Embedding relative_attention_bias_{nullptr};
  Norm final_norm_{nullptr};
};

// T5's bucket of each relative position (key position minus query position), bidirectional:
// half the buckets for keys after the query; within a half, exact distances below a quarter
// of the buckets, then logarithmically wider buckets up to max_distance, the last bucket
// beyond. int64, the shape of `relative`.
torch::Tensor t5_relative_position_bucket(const torch::Tensor& relative, int64_t num_buckets, int64_t max_distance);

}  // namespace sherl
