#pragma once
// Frozen backbones built from Hugging Face model directories (config.json +
// model.safetensors or sharded safetensors with an index), with exact Hugging Face
// semantics. Each exposes its embedding stage, each layer and its pooling separately, so
// that the early route can stop after any layer and the late route can run the last K
// layers on their own.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/core/types.h"  // BackboneIdentity

namespace sherl {

// A batch of model inputs. Images: pixel_values [B, C, H, W] float32, already preprocessed.
// Text: input_ids and token_type_ids [B, T] int64, attention_mask [B, T] int64 (1 = token).
struct ModelInputs {
  torch::Tensor pixel_values;
  torch::Tensor input_ids;
  torch::Tensor token_type_ids;
  torch::Tensor attention_mask;
};

class BackboneImpl : public torch::nn::Module {
 public:
  virtual ~BackboneImpl() = default;
  virtual std::string model_type() const = 0;
  virtual int64_t num_layers() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual bool is_text() const = 0;
  // Embedding output F_0: [B, T, d].
  virtual torch::Tensor embed(const ModelInputs& inputs) = 0;
  // Valid-token mask [B, T] (int64, 1 = token) matching embed()'s output (all ones for ViT).
  virtual torch::Tensor token_mask(const ModelInputs& inputs) = 0;
  // Layer i (0-based) on hidden states [B, T, d]; mask [B, T] int64 (1 = attend). With
  // 0 < queries < T only the first `queries` tokens' outputs are computed: [B, queries, d].
  virtual torch::Tensor layer(int64_t i, const torch::Tensor& hidden, const torch::Tensor& mask,
                              int64_t queries = 0) = 0;
  // The backbone's own pooling of the last layer's output: [B, d]. BERT: CLS token (no
  // pooler); RoBERTa: first token; ViT: final LayerNorm then CLS. Every backbone reads
  // only the first kPooledTokens tokens of last_hidden.
  virtual torch::Tensor pool(const torch::Tensor& last_hidden) = 0;
  static constexpr int64_t kPooledTokens = 1;
  // Parameters of layer i only (for freezing checks and the late route).
  virtual std::vector<torch::Tensor> layer_parameters(int64_t i) = 0;
  // The id that pads text batches (config.json's pad_token_id, with the model type's
  // Hugging Face default); 0 for image models.
  virtual int64_t pad_token_id() const { return 0; }
};

using Backbone = std::shared_ptr<BackboneImpl>;

// The inputs moved to `device` (undefined tensors stay undefined); the copies are
// asynchronous from page-locked memory (see pin()).
ModelInputs to_device(const ModelInputs& inputs, torch::Device device);
// The inputs in page-locked host memory, for fast asynchronous copies to a GPU.
ModelInputs pin(const ModelInputs& inputs);

// Loads the backbone from a Hugging Face model directory, weights converted to float32 on
// `device`, all parameters frozen (requires_grad = false), eval mode. Accepts tensor names
// with or without the task-model prefix ("vit.", "bert.", "roberta."); a task head in the
// checkpoint is ignored. Throws sherl::Error naming the file and key / tensor on any problem
// (missing or unsupported config key, missing tensor, wrong shape).
Backbone load_backbone(const std::string& model_dir, torch::Device device = torch::kCPU);

// config + weights hashes and dimensions, without building the model.
BackboneIdentity backbone_identity(const std::string& model_dir);

// Runs the embedding stage and layers 0..last_layer-1 and returns the tiers asked for
// (0 = embedding output, t = output of layer t-1), stacked: [B, T, n_tiers, d].
torch::Tensor compute_tiers(BackboneImpl& backbone, const ModelInputs& inputs,
                            const std::vector<int64_t>& tiers);

}  // namespace sherl
