#pragma once
// CLIP's text tower (model_type clip_text_model: a CLIPTextModel directory, or the text_config
// and text_model.* tensors of a CLIPModel chosen with --tower text), as transformers'
// CLIPTextTransformer: token and position embeddings, a causal mask over the real tokens,
// pre-norm layers with biases (quick_gelu by default), final_layer_norm. Hugging Face pools at
// the end-of-text token (the first eos_token_id; the largest id where eos_token_id is 2);
// sherl's text inputs refuse a text whose end-of-text token is not its last real token
// (text_encoding.h), so pooling takes the last real token, which is that token.
// text_projection, where the checkpoint has one (a CLIPModel, a CLIPTextModelWithProjection),
// is the backbone's project().
#include "lib/model/layer_stack.h"
#include "lib/model/model_config.h"

namespace sherl {

class ClipTextBackboneImpl : public LayerStackBackboneImpl {
 public:
  ClipTextBackboneImpl(const ModelConfig& config, BackboneScope scope);
  void load(const std::string& model_dir);

  std::string model_type() const override { return "clip_text_model"; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  bool is_text() const override { return true; }
  PoolingKind pooling() const override { return PoolingKind::LastToken; }
  AttentionKind attention() const override { return AttentionKind::Causal; }
  torch::Tensor embed(const ModelInputs& inputs) override;
  int64_t pad_token_id() const override { return pad_token_id_; }

 protected:
  torch::Tensor final_norm(const torch::Tensor& rows) override { return final_norm_(rows); }

 private:
  EncoderConfig config_;
  int64_t vocab_size_, max_positions_, pad_token_id_;
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
};

}  // namespace sherl
