#pragma once
// One Transformer encoder layer as BERT/RoBERTa (post-LayerNorm) and ViT (pre-LayerNorm)
// define it, with the query/key/value projections fused into one Linear so that a layer
// does one [d -> 3d] matmul instead of three.
#include <torch/torch.h>

#include <array>
#include <string>

#include "lib/model/layer_state.h"
#include "lib/model/model_config.h"

namespace sherl {

class Checkpoint;

// Where Hugging Face puts a layer's tensors, relative to "<encoder>.layer.<i>.".
struct EncoderLayerNames {
  std::string self_attention;  // holds query/key/value: "attention.self" or "attention.attention"
  std::string norm_attention;  // LayerNorm around attention: "attention.output.LayerNorm" / "layernorm_before"
  std::string norm_mlp;        // LayerNorm around the MLP: "output.LayerNorm" / "layernorm_after"
};

class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(const EncoderConfig& config, bool pre_norm, bool qkv_bias);
  // hidden [B, T, d]; attention_bias ([B, 1, 1, T] or [B, 1 or H, T, T]) added to the
  // attention scores. Returns [B, T, d], or only the rows asked for ([B, leading or P, d]:
  // they still attend to every key they may see): the same values for a fraction of the
  // work when only those rows are read.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& attention_bias, const OutputRows& rows = {});
  // Loads "<prefix>.<names...>" tensors from the checkpoint into this layer.
  void load(const Checkpoint& checkpoint, const std::string& prefix, const EncoderLayerNames& names);

 private:
  // q, k, v [B, heads, T, head_dim].
  std::array<torch::Tensor, 3> project_qkv(const torch::Tensor& x);
  torch::Tensor attention(const torch::Tensor& x, const torch::Tensor& attention_bias);
  // attention() of the first `queries` tokens only, [B, queries, d]; per-key bias only.
  torch::Tensor attention_of_first(const torch::Tensor& x, const torch::Tensor& attention_bias, int64_t queries);
  // attention() of the rows at `positions` [B, P], [B, P, d]; any bias.
  torch::Tensor attention_at(const torch::Tensor& x, const torch::Tensor& attention_bias, const torch::Tensor& positions);
  torch::Tensor mlp(const torch::Tensor& x);

  int64_t num_heads_, head_dim_;
  double score_scale_;
  bool pre_norm_, qkv_bias_;
  Activation activation_;
  torch::nn::Linear qkv_{nullptr}, attention_out_{nullptr}, intermediate_{nullptr}, output_{nullptr};
  torch::nn::LayerNorm norm_attention_{nullptr}, norm_mlp_{nullptr};
};
TORCH_MODULE(EncoderLayer);

// Hugging Face's extended attention mask: 0 for keys to attend, the dtype's lowest value for
// masked keys, shaped [B, 1, 1, T] to broadcast over heads and queries.
torch::Tensor attention_bias_from_mask(const torch::Tensor& mask, const torch::Tensor& like);
// The value of a masked key in scores of like's dtype (its lowest finite value, as Hugging Face).
double attention_bias_lowest(const torch::Tensor& like);

// x [B, T, d] at positions [B, P] int64: [B, P, d].
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& positions);

// Throws sherl::Error unless 0 <= i < num_layers.
void check_layer_index(const std::string& model_type, int64_t i, int64_t num_layers);

}  // namespace sherl
