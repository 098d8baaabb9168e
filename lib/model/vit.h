#pragma once
// Vision Transformer, as transformers' ViTModel without the pooler: patch embedding by a
// strided convolution, CLS token prepended, learned position embeddings added, L
// pre-LayerNorm encoder layers; pool() applies the final LayerNorm (vit.layernorm) to CLS.
// CLIP's vision tower (model_type clip_vision_model: a CLIPVisionModel directory) is the
// same with a patch convolution without bias, a LayerNorm after the embeddings
// (pre_layrnorm, Hugging Face's spelling), quick_gelu layers and post_layernorm; its
// visual_projection, where the checkpoint has one (a CLIPModel, a
// CLIPVisionModelWithProjection), is the backbone's project().
#include "lib/model/layer_stack.h"
#include "lib/model/model_config.h"

namespace sherl {

// The tokens of every image: (image_size / patch_size)^2 patches and the class token.
int64_t vit_token_count(const ModelConfig& config);

// Where both CLIP towers keep a layer's tensors (relative to "encoder.layers.<i>").
const EncoderLayerNames& clip_layer_names();

class VitBackboneImpl : public LayerStackBackboneImpl {
 public:
  VitBackboneImpl(const ModelConfig& config, BackboneScope scope);
  void load(const std::string& model_dir);

  std::string model_type() const override { return clip_ ? "clip_vision_model" : "vit"; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  bool is_text() const override { return false; }
  PoolingKind pooling() const override { return PoolingKind::FirstToken; }  // the class token
  torch::Tensor embed(const ModelInputs& inputs) override;
  // All ones: every patch is a token.
  torch::Tensor token_mask(const ModelInputs& inputs) override;

 protected:
  // vit.layernorm; it acts on each token alone, so normalising the pooled row equals
  // Hugging Face's layernorm of every row followed by the class token.
  torch::Tensor final_norm(const torch::Tensor& rows) override { return final_norm_(rows); }

 private:
  void load_clip(const std::string& model_dir);

  EncoderConfig config_;
  bool clip_;
  int64_t image_size_, patch_size_, num_channels_, num_tokens_;
  torch::nn::Conv2d patch_projection_{nullptr};
  torch::Tensor cls_token_, position_embeddings_;
  torch::nn::LayerNorm embedding_norm_{nullptr}, final_norm_{nullptr};  // embedding_norm_: CLIP only
};

}  // namespace sherl
