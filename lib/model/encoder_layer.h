#pragma once
// One Transformer layer as the supported families define it, built from options: post-norm
// (BERT, RoBERTa) or pre-norm (ViT, T5, Llama), LayerNorm or RMS norm, with or without
// biases, scores scaled by 1/sqrt(head_dim) or not (T5), a plain or a gated MLP (T5 1.1,
// Llama), fewer key/value heads than query heads (grouped-query attention), and rotary
// positions where the layer state has them. The query/key/value projections are fused into
// one Linear, so that a layer does one product instead of three.
#include <torch/torch.h>

#include <array>
#include <string>

#include "lib/model/layer_state.h"
#include "lib/model/model_config.h"
#include "lib/model/norm.h"

namespace sherl {

class Checkpoint;

enum class MlpKind {
  Plain,  // out(act(in(x)))
  Gated,  // out(act(in(x)) * up(x)): in is the gate
};

// How a family builds its layers (the LibTorch options style).
struct EncoderLayerOptions {
  int64_t hidden_size = 0, num_heads = 0, head_dim = 0, intermediate_size = 0;
  int64_t num_kv_heads = 0;  // key/value heads, dividing num_heads (0: num_heads)
  Activation activation = Activation::GeluErf;
  NormKind norm = NormKind::Layer;
  double norm_eps = 1e-12;
  bool pre_norm = false;
  bool qkv_bias = true;      // biases of the query, key and value projections
  bool out_bias = true;      // a bias of the attention's output projection
  bool mlp_bias = true;      // biases of the MLP's projections
  MlpKind mlp = MlpKind::Plain;
  bool scale_scores = true;  // scores divided by sqrt(head_dim) (T5: not)
};

// The options of the BERT-style encoders (BERT, RoBERTa, ViT): LayerNorm, biases, a plain MLP.
EncoderLayerOptions encoder_layer_options(const EncoderConfig& config, bool pre_norm, bool qkv_bias);

// Where Hugging Face puts a layer's tensors, relative to the layer's prefix (each name is
// followed by ".weight" / ".bias").
struct EncoderLayerNames {
  std::string query, key, value, attention_out;
  std::string mlp_in;   // the MLP's first projection (the gate of a gated MLP)
  std::string mlp_up;   // a gated MLP's second input projection
  std::string mlp_out;
  std::string norm_attention, norm_mlp;  // the norms around attention and around the MLP
};

class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const EncoderLayerOptions& options);
  // hidden [B, T, d]; the state's attention bias ([B, 1, 1, T] or [B or 1, 1 or H, T, T]) is
  // added to the attention scores, its rotary tables (if any) turn queries and keys. Returns
  // [B, T, d], or only the rows asked for ([B, leading or P, d]: they still attend to every
  // key they may see): the same values for a fraction of the work when only those rows are
  // read.
  torch::Tensor forward(const torch::Tensor& hidden, const LayerState& state, const OutputRows& rows = {});
  // Loads "<prefix>.<names...>" tensors from the checkpoint into this layer.
  void load(const Checkpoint& checkpoint, const std::string& prefix, const EncoderLayerNames& names);

 private:
  // [B, heads, T, head_dim] from `n` heads of a [B, T, * head_dim] projection starting at
  // head `first`; key/value heads repeated for the query heads they serve.
  torch::Tensor heads(const torch::Tensor& projected, int64_t first, int64_t n) const;
  torch::Tensor attention(const torch::Tensor& x, const LayerState& state);
  // attention() of the first `queries` tokens only, [B, queries, d]; a per-key bias, no
  // rotary positions, as many key/value heads as query heads.
  torch::Tensor attention_of_first(const torch::Tensor& x, const torch::Tensor& attention_bias, int64_t queries);
  // attention() of the rows at `positions` [B, P], [B, P, d]; any bias.
  torch::Tensor attention_at(const torch::Tensor& x, const LayerState& state, const torch::Tensor& positions);
  // softmax(scaled(q k^T) + bias) v, context rows to the output projection: [B, P, d].
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& bias);
  torch::Tensor scaled(torch::Tensor scores) const;
  torch::Tensor activate(const torch::Tensor& x) const;
  torch::Tensor mlp(const torch::Tensor& x);

  EncoderLayerOptions options_;
  int64_t inner_, kv_inner_;  // num_heads * head_dim, num_kv_heads * head_dim
  torch::nn::Linear qkv_{nullptr}, attention_out_{nullptr}, mlp_in_{nullptr}, mlp_up_{nullptr}, mlp_out_{nullptr};
  Norm norm_attention_{nullptr}, norm_mlp_{nullptr};
};
TORCH_MODULE(EncoderLayer);

// Hugging Face's extended attention mask: 0 for keys to attend, the dtype's lowest value for
// masked keys, shaped [B, 1, 1, T] to broadcast over heads and queries.
torch::Tensor attention_bias_from_mask(const torch::Tensor& mask, const torch::Tensor& like);
// The value of a masked key in scores of like's dtype (its lowest finite value, as Hugging Face).
double attention_bias_lowest(const torch::Tensor& like);

// x [B, T, d] at positions [B, P] int64: [B, P, d].
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& positions);

// Rotary position embedding of x [B, H, P, head_dim] with cos and sin [B or 1, 1, P,
// head_dim]: x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1] of its two halves.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Throws sherl::Error unless 0 <= i < num_layers.
void check_layer_index(const std::string& model_type, int64_t i, int64_t num_layers);

}  // namespace sherl
