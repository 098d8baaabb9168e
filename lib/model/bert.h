#pragma once
// BERT and RoBERTa encoders (post-LayerNorm), as transformers' BertModel / RobertaModel
// without the pooler: word + absolute position + token type embeddings, LayerNorm, then L
// encoder layers. RoBERTa differs only in its position ids, which start after padding_idx.
#include "lib/model/layer_stack.h"
#include "lib/model/model_config.h"

namespace sherl {

class BertBackboneImpl : public LayerStackBackboneImpl {
 public:
  BertBackboneImpl(const ModelConfig& config, BackboneScope scope);
  void load(const std::string& model_dir);

  std::string model_type() const override { return config_.model_type; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  bool is_text() const override { return true; }
  // The first token's last hidden state (BertModel's pooler, a dense layer and tanh on top
  // of it, is not used).
  PoolingKind pooling() const override { return PoolingKind::FirstToken; }
  torch::Tensor embed(const ModelInputs& inputs) override;
  int64_t pad_token_id() const override { return pad_token_id_; }

 private:
  torch::Tensor position_ids(const torch::Tensor& input_ids) const;

  EncoderConfig config_;
  bool roberta_;
  int64_t vocab_size_, max_positions_, type_vocab_size_, pad_token_id_;
  torch::nn::Embedding word_embeddings_{nullptr}, position_embeddings_{nullptr}, token_type_embeddings_{nullptr};
  torch::nn::LayerNorm embedding_norm_{nullptr};
};

}  // namespace sherl
