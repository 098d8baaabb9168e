#include "lib/model/vit.h"

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"

namespace sherl {
const EncoderLayerNames& clip_layer_names() {
  static const EncoderLayerNames names{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                                       "mlp.fc1",          "",                 "mlp.fc2",          "layer_norm1",
                                       "layer_norm2"};
  return names;
}

namespace {

const EncoderLayerNames kVitLayerNames{"attention.attention.query", "attention.attention.key",
                                       "attention.attention.value", "attention.output.dense",
                                       "intermediate.dense", "",
                                       "output.dense", "layernorm_before", "layernorm_after"};

}  // namespace

int64_t vit_token_count(const ModelConfig& config) {
  const int64_t image_size = config.require_positive_int("image_size");
  const int64_t patch_size = config.require_positive_int("patch_size");
  if (patch_size > image_size) throw config.error("patch_size", "larger than image_size");
  const int64_t per_side = image_size / patch_size;
  return per_side * per_side + 1;
}

// The embedding stage is built whatever the scope: a patch convolution and two small tables.
VitBackboneImpl::VitBackboneImpl(const ModelConfig& config, BackboneScope scope)
    : LayerStackBackboneImpl(scope), config_(read_encoder_config(config)), clip_(config_.model_type == "clip_vision_model") {
  num_tokens_ = vit_token_count(config);
  image_size_ = config.require_positive_int("image_size");
  patch_size_ = config.require_positive_int("patch_size");
  num_channels_ = config.get_int("num_channels", 3);
  if (num_channels_ <= 0) throw config.error("num_channels", "must be positive");
  const bool qkv_bias = config.get_bool("qkv_bias", true);

  const int64_t d = config_.hidden_size;
  patch_projection_ = register_module(
      "patch_projection",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(num_channels_, d, patch_size_).stride(patch_size_).bias(!clip_)));
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, d}));
  position_embeddings_ = register_parameter("position_embeddings", torch::zeros({1, num_tokens_, d}));
  add_layers(config_.num_layers, encoder_layer_options(config_, /*pre_norm=*/true, qkv_bias));
  const auto norm = torch::nn::LayerNormOptions({d}).eps(config_.layer_norm_eps);
  if (clip_) embedding_norm_ = register_module("embedding_norm", torch::nn::LayerNorm(norm));
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(norm));
}

void VitBackboneImpl::load(const std::string& model_dir) {
  if (clip_) return load_clip(model_dir);
  Checkpoint ckpt(model_dir, {"vit."});
  ckpt.load(cls_token_, "embeddings.cls_token");
  ckpt.load(position_embeddings_, "embeddings.position_embeddings");
  ckpt.load(patch_projection_->weight, "embeddings.patch_embeddings.projection.weight");
  ckpt.load(patch_projection_->bias, "embeddings.patch_embeddings.projection.bias");
  for (int64_t i = 0; i < config_.num_layers; ++i)
    load_layer(i, ckpt, "encoder.layer." + std::to_string(i), kVitLayerNames);
  ckpt.load(final_norm_->weight, "layernorm.weight");
  ckpt.load(final_norm_->bias, "layernorm.bias");
}

void VitBackboneImpl::load_clip(const std::string& model_dir) {
  Checkpoint ckpt(model_dir, {"vision_model."});
  torch::NoGradGuard no_grad;
  const int64_t d = config_.hidden_size;
  cls_token_.view({d}).copy_(ckpt.get("embeddings.class_embedding", {d}));
  position_embeddings_.view({num_tokens_, d}).copy_(ckpt.get("embeddings.position_embedding.weight", {num_tokens_, d}));
  ckpt.load(patch_projection_->weight, "embeddings.patch_embedding.weight");
  ckpt.load(embedding_norm_->weight, "pre_layrnorm.weight");
  ckpt.load(embedding_norm_->bias, "pre_layrnorm.bias");
  for (int64_t i = 0; i < config_.num_layers; ++i)
    load_layer(i, ckpt, "encoder.layers." + std::to_string(i), clip_layer_names());
  ckpt.load(final_norm_->weight, "post_layernorm.weight");
  ckpt.load(final_norm_->bias, "post_layernorm.bias");
  load_projection(ckpt, "visual_projection.weight");
}

torch::Tensor VitBackboneImpl::embed(const ModelInputs& inputs) {
  const auto& px = inputs.pixel_values;
  if (!px.defined() || px.dim() != 4 || px.size(1) != num_channels_ || px.size(2) != image_size_ ||
      px.size(3) != image_size_)
    throw Error(model_type() + " backbone: pixel_values must be [batch, " + std::to_string(num_channels_) + ", " +
                std::to_string(image_size_) + ", " + std::to_string(image_size_) +
                "] as config.json says (num_channels, image_size)");
  auto x = px.to(cls_token_.device(), cls_token_.scalar_type());
  auto patches = patch_projection_(x).flatten(2).transpose(1, 2);  // [B, patches, d]
  auto cls = cls_token_.expand({x.size(0), 1, config_.hidden_size});
  auto h = torch::cat({cls, patches}, 1) + position_embeddings_;
  return clip_ ? embedding_norm_(h) : h;
}

torch::Tensor VitBackboneImpl::token_mask(const ModelInputs& inputs) {
  int64_t batch = inputs.pixel_values.defined() ? inputs.pixel_values.size(0) : 0;
  return torch::ones({batch, num_tokens_}, torch::TensorOptions().dtype(torch::kInt64).device(cls_token_.device()));
}

}  // namespace sherl
