#pragma once
// The Multi-Tiered Sensing Adapter (MTSA), the early route of SHERL (docs/method.md).
// It consolidates the cached outputs of the frozen early layers ("tiers") into one hidden
// state that replaces the input of the first late layer:
//
//   x_i = Proj_i(F_i)                          per-tier projection d -> h = d / factor
//   g = x_{N-1}, S = {x_0 .. x_{N-2}}          guide and shallow set
//   r_i = sum_{j in S} relu(cos(x_i, x_j))     redundancy (cos with 1e-8 added to the norms)
//   a_i = relu(w^T (x_i * g) + c) / r_i        anti-redundant attention, then
//   a_i = a_i / (sum_k |a_k| + 1e-8)           L1-normalised over the shallow tiers
//   z = sum_i a_i x_i + g
//   out = Up(z) + tanh(gamma / T) * F_{N-1}    gamma = 0 at init: the gate starts closed
//
// Everything is per token; tensors are created with the options of the inputs, so the
// module runs on whatever device/dtype it and its inputs are moved to.
//
// Parameter names (named_parameters()) are the adapter's tensor names (formats/adapter.md):
//   proj.{i}.linear.{weight,bias}, proj.{i}.norm.{weight,bias}    projection "linear-ln"
//   proj.{i}.fc1|fc2|fc3.{weight,bias}                            projection "gated"
//   attn.{weight,bias}                                            Linear(h, 1)
//   out.linear.{weight,bias}, out.norm.{weight,bias}             output "ln" (norm only there)
//   gate                                                          gamma, shape [1]
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sherl {

// How each tier is projected from d to h: "linear-ln" (BERT/ViT) or "gated" (T5/CLIP-ViL).
enum class ProjectionKind { LinearLn, Gated };
// The output map from h back to d:
//   "ln":     Up(z) = Dropout(LayerNorm_d(W_o relu(z) + b_o)), LayerNorm eps 1e-12 (BERT/ViT)
//   "linear": Up(z) = W_o relu(z) + b_o                                          (T5)
enum class OutputKind { Ln, Linear };
std::string to_string(ProjectionKind k);
ProjectionKind parse_projection_kind(const std::string& name);  // throws sherl::Error naming the choices
std::string to_string(OutputKind k);
OutputKind parse_output_kind(const std::string& name);

struct MtsaOptions {
  int64_t num_tiers = 0;           // N, tiers given to forward() (the last one is `last`)
  int64_t hidden_size = 0;         // d, width of the backbone's hidden states
  int64_t downsample_factor = 2;   // h = d / downsample_factor (must divide d)
  ProjectionKind projection = ProjectionKind::LinearLn;
  OutputKind output = OutputKind::Ln;
  double dropout = 0.1;            // of the "ln" output only
  double temperature = 0.1;        // T of the gate tanh(gamma / T)

  int64_t projection_size() const { return downsample_factor > 0 ? hidden_size / downsample_factor : 0; }
  // Throws sherl::Error("MTSA options: <problem>") when inconsistent.
  void validate() const;
};

// What forward_traced() returns besides the output, for analysis and tests.
struct MtsaTrace {
  torch::Tensor out;         // [B, T, d]
  torch::Tensor attention;   // a_i after L1 normalisation, [B, T, N-1] (N-1 = 0 when N == 1)
  torch::Tensor redundancy;  // r_i, [B, T, N-1]
};

// One tier's projection d -> h. Subclasses register their own sub-modules, whose names
// become part of the parameter names.
class TierProjectionImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

class MtsaImpl : public torch::nn::Module {
 public:
  explicit MtsaImpl(const MtsaOptions& options);

  // tiers: [B, T, N, d], in stored order; tiers[..., N-1, :] is `last`. Of the parameters'
  // dtype, or float16 (an f16 cache's batch) with float32 parameters: computed in float32.
  // mask: optional [B, T] (bool or 0/1), true/1 = real token. Padded tokens get an
  // unspecified but finite output (their inputs are zeroed and their redundancy forced
  // to 1), whatever their cached values are. Returns out [B, T, d].
  torch::Tensor forward(const torch::Tensor& tiers, const torch::Tensor& mask = {});
  // The same computation, also returning the attention weights and redundancies.
  MtsaTrace forward_traced(const torch::Tensor& tiers, const torch::Tensor& mask = {});

  const MtsaOptions& options() const { return options_; }
  // tanh(gamma / T): how much of `last` passes straight through (0 at initialisation).
  torch::Tensor gate_value() const;

 private:
  // Tiers [first, first + count) of [B, T, N, d], projected: [B, T, count, h].
  torch::Tensor project(const torch::Tensor& tiers, int64_t first, int64_t count);
  // Every tier of [B, T, N, d] projected: {shallow [B*T, N-1, h], guide [B*T, h]}, through
  // the fused CPU kernel where it applies (sherl/kernels/tier_projections.h).
  std::array<torch::Tensor, 2> project_all(const torch::Tensor& tiers);
  // Up(z) + gate_value() * last: [B, T, h] -> [B, T, d], through the fused CPU kernel where
  // it applies (sherl/kernels/mtsa_output.h).
  torch::Tensor output(const torch::Tensor& z, const torch::Tensor& last);

  MtsaOptions options_;
  torch::nn::ModuleList proj_{nullptr};
  std::vector<std::shared_ptr<TierProjectionImpl>> projections_;  // the same modules, typed
  torch::nn::Linear attn_{nullptr};
  torch::nn::Linear out_linear_{nullptr};
  torch::nn::LayerNorm out_norm_{nullptr};  // null for output "linear"
  torch::Tensor gate_;
};
TORCH_MODULE(Mtsa);

// Number of trainable values of an MTSA with these options (for reports).
int64_t count_parameters(torch::nn::Module& module);

}  // namespace sherl
