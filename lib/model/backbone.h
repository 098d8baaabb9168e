#pragma once
// Frozen backbones built from Hugging Face model directories (config.json +
// model.safetensors or sharded safetensors with an index), with exact Hugging Face
// semantics. Each exposes its embedding stage, each layer and its pooling separately, so
// that the early route can stop after any layer and the late route can run the last K
// layers on their own.
//
// What differs between families is declared, not assumed: how a sequence is pooled (and so
// which rows of the last layer are read), whether attention is bidirectional or causal, and
// the state that all layers of one forward pass share (LayerState).
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/core/types.h"  // BackboneIdentity
#include "lib/model/layer_state.h"

namespace sherl {

class Checkpoint;

// A batch of model inputs. Images: pixel_values [B, C, H, W] float32, already preprocessed.
// Text: input_ids and token_type_ids [B, T] int64, attention_mask [B, T] int64 (1 = token).
struct ModelInputs {
  torch::Tensor pixel_values;
  torch::Tensor input_ids;
  torch::Tensor token_type_ids;
  torch::Tensor attention_mask;
};

// How a backbone turns its last layer's output into one vector per example.
enum class PoolingKind {
  FirstToken,  // the first token (BERT's CLS, RoBERTa's <s>, ViT's class token)
  Mean,        // the mean over the real tokens (sentence-T5 style)
  EndOfText,   // the end-of-text token, located from the input ids (CLIP's text tower)
  LastToken,   // the last real token (decoders)
};
enum class AttentionKind { Bidirectional, Causal };

class BackboneImpl : public torch::nn::Module {
 public:
  virtual ~BackboneImpl() = default;
  virtual std::string model_type() const = 0;
  virtual int64_t num_layers() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual bool is_text() const = 0;
  virtual PoolingKind pooling() const = 0;
  virtual AttentionKind attention() const { return AttentionKind::Bidirectional; }
  // Embedding output F_0: [B, T, d].
  virtual torch::Tensor embed(const ModelInputs& inputs) = 0;
  // Valid-token mask [B, T] (int64, 1 = token) matching embed()'s output: the text inputs'
  // attention_mask (all ones when absent) unless a family says otherwise (ViT: every patch).
  virtual torch::Tensor token_mask(const ModelInputs& inputs);
  // The state the layers share for hidden states like `like` ([B, T, d]) under `mask`: the
  // padding bias, and the causal mask for causal backbones.
  virtual LayerState layer_state(const torch::Tensor& mask, const torch::Tensor& like) const;
  // Layer i (0-based) on hidden states [B, T, d]: [B, T, d], or only the rows asked for,
  // [B, leading or P, d].
  virtual torch::Tensor layer(int64_t i, const torch::Tensor& hidden, const LayerState& state,
                              const OutputRows& rows = {}) = 0;
  // The rows of the last layer that pool() reads: the first token, every token (mean), or
  // one position per example (last real token from the mask; end of text from the ids,
  // which are then required).
  OutputRows pooled_rows(const torch::Tensor& mask, const torch::Tensor& input_ids = {}) const;
  // The backbone's pooling of its last layer's output at `rows` (as that layer computed
  // them): [B, d], after the final normalisation where the family has one (ViT's
  // layernorm). Mean pooling averages the rows of real tokens. Given every row, it picks
  // the pooled ones itself (not for end-of-text pooling, which needs the input ids).
  torch::Tensor pool(const torch::Tensor& last_rows, const LayerState& state, const OutputRows& rows = {});
  // The width of the joint space of a two-tower model (CLIP's visual_projection or
  // text_projection) where the checkpoint holds the tower's projection; 0 where it holds none.
  int64_t projection_dim() const { return projection_ ? projection_->options.out_features() : 0; }
  // Pooled rows [B, d] in the joint space, [B, projection_dim()] (a product without bias, as
  // CLIP's). pool() does not apply it: a classification head after a linear map gains nothing
  // from it, and retrieval needs the pooled rows and their projection both.
  torch::Tensor project(const torch::Tensor& pooled) const;
  // Parameters of layer i only (for freezing checks and the late route).
  virtual std::vector<torch::Tensor> layer_parameters(int64_t i) = 0;
  // The id that pads text batches (config.json's pad_token_id, with the model type's
  // Hugging Face default); 0 for image models.
  virtual int64_t pad_token_id() const { return 0; }

 protected:
  // Applied to the pooled rows, token by token (identity unless the family normalises its
  // last hidden states, e.g. ViT's final LayerNorm).
  virtual torch::Tensor final_norm(const torch::Tensor& rows) { return rows; }
  // The end-of-text position of each example [B, 1] (EndOfText pooling only).
  virtual torch::Tensor end_of_text_positions(const torch::Tensor& input_ids) const;
  // Loads `name` ([p, hidden_size()]) as the projection where the checkpoint holds it.
  void load_projection(const Checkpoint& checkpoint, const std::string& name);

 private:
  torch::nn::Linear projection_{nullptr};
};

using Backbone = std::shared_ptr<BackboneImpl>;

// What of a backbone load_backbone builds and loads: all of it, or only what the late route
// runs (the last K layers, the final norm, pooling and projection), which is all that
// training and evaluation from cached tiers need: no early layers and no embedding tables
// are allocated then (embed() and the early layers refuse to run). And in which floating
// point its weights are held: another than float32 (bf16, --precision) converts each layer
// as it is built, so that the whole backbone never exists in float32 (a 1 B decoder: 4 GB).
struct BackboneScope {
  int64_t late_layers_only = 0;  // 0: the whole backbone; K: its last K layers
  torch::ScalarType dtype = torch::kFloat32;
  bool whole() const { return late_layers_only == 0; }
};

// The inputs moved to `device` (undefined tensors stay undefined); the copies are
// asynchronous from page-locked memory (see pin()).
ModelInputs to_device(const ModelInputs& inputs, torch::Device device);
// The inputs in page-locked host memory, for fast asynchronous copies to a GPU.
ModelInputs pin(const ModelInputs& inputs);

// Loads the backbone from a Hugging Face model directory, weights converted to scope.dtype
// (float32 by default) on `device`, all parameters frozen (requires_grad = false), eval mode. Accepts tensor names
// with or without the task-model prefix ("vit.", "bert.", "roberta."); a task head in the
// checkpoint is ignored. Throws sherl::Error naming the file and key / tensor on any problem
// (missing or unsupported config key, missing tensor, wrong shape). `tower` picks one tower
// of a CLIPModel (types.h); tower_of(identity.model_type) is the tower an identity names.
Backbone load_backbone(const std::string& model_dir, torch::Device device = torch::kCPU, Tower tower = Tower::Whole,
                       BackboneScope scope = {});

// Checks config.json against the checkpoint without building anything: the sizes it
// implies must fit in the values the weight files hold (a hostile or mismatched config is
// refused naming the key before any memory is allocated for it). load_backbone does it too.
void check_backbone_config(const std::string& model_dir, Tower tower = Tower::Whole);

// The tokens an image backbone makes of every image, from config.json alone; 0 for a text
// backbone (its inputs' lengths say).
int64_t tokens_per_image(const std::string& model_dir, Tower tower = Tower::Whole);

// config + weights hashes and dimensions, without building the model.
BackboneIdentity backbone_identity(const std::string& model_dir, Tower tower = Tower::Whole);

// Runs the embedding stage and layers 0..last_layer-1 and returns the tiers asked for
// (0 = embedding output, t = output of layer t-1), stacked: [B, T, n_tiers, d].
torch::Tensor compute_tiers(BackboneImpl& backbone, const ModelInputs& inputs,
                            const std::vector<int64_t>& tiers);

}  // namespace sherl
