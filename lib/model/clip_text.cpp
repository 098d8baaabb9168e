#include "lib/model/clip_text.h"

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/text_inputs.h"
#include "lib/model/vit.h"  // clip_layer_names

namespace sherl {

ClipTextBackboneImpl::ClipTextBackboneImpl(const ModelConfig& config, BackboneScope scope)
    : LayerStackBackboneImpl(scope), config_(read_encoder_config(config)) {
  // CLIPTextConfig's defaults.
  vocab_size_ = config.get_int("vocab_size", 49408);
  max_positions_ = config.get_int("max_position_embeddings", 77);
  pad_token_id_ = config.get_int("pad_token_id", 1);
  if (vocab_size_ <= 0) throw config.error("vocab_size", "must be positive");
  if (max_positions_ <= 0) throw config.error("max_position_embeddings", "must be positive");
  if (pad_token_id_ < 0 || pad_token_id_ >= vocab_size_)
    throw config.error("pad_token_id", std::to_string(pad_token_id_) + " is outside the vocabulary of " +
                                           std::to_string(vocab_size_));
  const int64_t d = config_.hidden_size;
  if (builds_embeddings()) {
    token_embedding_ = register_module("token_embedding", torch::nn::Embedding(vocab_size_, d));
    position_embedding_ = register_module("position_embedding", torch::nn::Embedding(max_positions_, d));
  }
  add_layers(config_.num_layers, encoder_layer_options(config_, /*pre_norm=*/true, /*qkv_bias=*/true));
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(config_.layer_norm_eps)));
}

void ClipTextBackboneImpl::load(const std::string& model_dir) {
  Checkpoint ckpt(model_dir, {"text_model."});
  if (builds_embeddings()) {
    ckpt.load(token_embedding_->weight, "embeddings.token_embedding.weight");
    ckpt.load(position_embedding_->weight, "embeddings.position_embedding.weight");
  }
  for (int64_t i = 0; i < config_.num_layers; ++i)
    load_layer(i, ckpt, "encoder.layers." + std::to_string(i), clip_layer_names());
  ckpt.load(final_norm_->weight, "final_layer_norm.weight");
  ckpt.load(final_norm_->bias, "final_layer_norm.bias");
  load_projection(ckpt, "text_projection.weight");
}

torch::Tensor ClipTextBackboneImpl::embed(const ModelInputs& inputs) {
  require_embeddings();
  auto ids = checked_input_ids(model_type(), inputs, vocab_size_, token_embedding_->weight.device());
  refuse_token_types(model_type(), inputs);
  const int64_t T = ids.size(1);
  if (T > max_positions_)
    throw Error(model_type() + " backbone: " + std::to_string(T) + " tokens exceed max_position_embeddings " +
                std::to_string(max_positions_));
  return token_embedding_(ids) + position_embedding_->weight.narrow(0, 0, T);
}

}  // namespace sherl
