#include "lib/model/bert.h"

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/text_inputs.h"

namespace sherl {
namespace {

const EncoderLayerNames kBertLayerNames{"attention.self.query", "attention.self.key", "attention.self.value",
                                        "attention.output.dense", "intermediate.dense", "",
                                        "output.dense", "attention.output.LayerNorm", "output.LayerNorm"};

}  // namespace

BertBackboneImpl::BertBackboneImpl(const ModelConfig& config, BackboneScope scope)
    : LayerStackBackboneImpl(scope), config_(read_encoder_config(config)), roberta_(config_.model_type == "roberta") {
  std::string position_type = config.get_string("position_embedding_type", "absolute");
  if (position_type != "absolute")
    throw config.error("position_embedding_type", "'" + position_type + "' is not supported (absolute only)");
  vocab_size_ = config.require_positive_int("vocab_size");
  max_positions_ = config.require_positive_int("max_position_embeddings");
  type_vocab_size_ = config.get_int("type_vocab_size", 2);
  if (type_vocab_size_ <= 0) throw config.error("type_vocab_size", "must be positive");
  // transformers' defaults: BertConfig pad_token_id 0, RobertaConfig 1.
  pad_token_id_ = config.get_int("pad_token_id", roberta_ ? 1 : 0);
  if (roberta_ && (pad_token_id_ < 0 || pad_token_id_ + 1 >= max_positions_))
    throw config.error("pad_token_id", "leaves no positions below max_position_embeddings");

  const int64_t d = config_.hidden_size;
  if (builds_embeddings()) {
    word_embeddings_ = register_module("word_embeddings", torch::nn::Embedding(vocab_size_, d));
    position_embeddings_ = register_module("position_embeddings", torch::nn::Embedding(max_positions_, d));
    token_type_embeddings_ = register_module("token_type_embeddings", torch::nn::Embedding(type_vocab_size_, d));
    embedding_norm_ = register_module(
        "embedding_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(config_.layer_norm_eps)));
  }
  add_layers(config_.num_layers, encoder_layer_options(config_, /*pre_norm=*/false, /*qkv_bias=*/true));
}

void BertBackboneImpl::load(const std::string& model_dir) {
  Checkpoint ckpt(model_dir, {config_.model_type + ".", "bert.", "roberta."});
  if (builds_embeddings()) {
    ckpt.load(word_embeddings_->weight, "embeddings.word_embeddings.weight");
    ckpt.load(position_embeddings_->weight, "embeddings.position_embeddings.weight");
    ckpt.load(token_type_embeddings_->weight, "embeddings.token_type_embeddings.weight");
    ckpt.load(embedding_norm_->weight, "embeddings.LayerNorm.weight");
    ckpt.load(embedding_norm_->bias, "embeddings.LayerNorm.bias");
  }
  for (int64_t i = 0; i < config_.num_layers; ++i)
    load_layer(i, ckpt, "encoder.layer." + std::to_string(i), kBertLayerNames);
}

// BERT: 0..T-1. RoBERTa (create_position_ids_from_input_ids): padding tokens keep
// padding_idx, real tokens count up from padding_idx + 1.
torch::Tensor BertBackboneImpl::position_ids(const torch::Tensor& input_ids) const {
  const int64_t T = input_ids.size(1);
  if (!roberta_) {
    if (T > max_positions_)
      throw Error("bert backbone: " + std::to_string(T) + " tokens exceed max_position_embeddings " +
                  std::to_string(max_positions_));
    return torch::arange(T, input_ids.options()).unsqueeze(0).expand_as(input_ids);
  }
  auto not_pad = input_ids.ne(pad_token_id_).to(torch::kInt64);
  auto positions = torch::cumsum(not_pad, 1) * not_pad + pad_token_id_;
  if (T > 0 && positions.max().item<int64_t>() >= max_positions_)
    throw Error("roberta backbone: " + std::to_string(T) + " tokens exceed max_position_embeddings " +
                std::to_string(max_positions_) + " minus padding_idx + 1");
  return positions;
}

torch::Tensor BertBackboneImpl::embed(const ModelInputs& inputs) {
  require_embeddings();
  auto ids = checked_input_ids(model_type(), inputs, vocab_size_, word_embeddings_->weight.device());
  torch::Tensor types = inputs.token_type_ids.defined() ? inputs.token_type_ids.to(ids.device(), torch::kInt64)
                                                        : torch::zeros_like(ids);
  if (types.sizes() != ids.sizes()) throw Error(model_type() + " backbone: token_type_ids do not match input_ids");
  if (types.numel() > 0 && (types.min().item<int64_t>() < 0 || types.max().item<int64_t>() >= type_vocab_size_))
    throw Error(model_type() + " backbone: token type outside config.json type_vocab_size " +
                std::to_string(type_vocab_size_));
  auto h = word_embeddings_(ids) + token_type_embeddings_(types) + position_embeddings_(position_ids(ids));
  return embedding_norm_(h);
}

}  // namespace sherl
