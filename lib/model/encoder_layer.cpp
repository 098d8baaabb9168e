#include "lib/model/encoder_layer.h"

#include <array>
#include <cmath>
#include <limits>

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/input_attention.h"
#include "lib/model/norm_and_leading_rows.h"

namespace sherl {

EncoderLayerImpl::EncoderLayerImpl(const EncoderConfig& c, bool pre_norm, bool qkv_bias)
    : num_heads_(c.num_heads),
      head_dim_(c.hidden_size / c.num_heads),
      score_scale_(std::sqrt(static_cast<double>(c.hidden_size / c.num_heads))),
      pre_norm_(pre_norm),
      qkv_bias_(qkv_bias),
      activation_(c.activation) {
  const int64_t d = c.hidden_size;
  qkv_ = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(d, 3 * d).bias(qkv_bias)));
  attention_out_ = register_module("attention_out", torch::nn::Linear(d, d));
  intermediate_ = register_module("intermediate", torch::nn::Linear(d, c.intermediate_size));
  output_ = register_module("output", torch::nn::Linear(c.intermediate_size, d));
  auto norm = torch::nn::LayerNormOptions({d}).eps(c.layer_norm_eps);
  norm_attention_ = register_module("norm_attention", torch::nn::LayerNorm(norm));
  norm_mlp_ = register_module("norm_mlp", torch::nn::LayerNorm(norm));
}

std::array<torch::Tensor, 3> EncoderLayerImpl::project_qkv(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1);
  // [B, T, 3d] -> [3, B, heads, T, head_dim]: q, k, v are views, no copies.
  auto qkv = qkv_(x).view({B, T, 3, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  return {qkv[0], qkv[1], qkv[2]};
}

torch::Tensor EncoderLayerImpl::attention(const torch::Tensor& x, const torch::Tensor& attention_bias) {
  auto [q, k, v] = project_qkv(x);
  // As Hugging Face: (q k^T) / sqrt(head_dim) + mask, then softmax over keys.
  auto scores = torch::matmul(q, k.transpose(-1, -2)).div_(score_scale_);
  if (attention_bias.defined()) scores.add_(attention_bias);
  auto context = torch::matmul(torch::softmax(scores, -1), v);  // [B, heads, T, head_dim]
  return attention_out_(context.transpose(1, 2).reshape({x.size(0), x.size(1), num_heads_ * head_dim_}));
}

torch::Tensor EncoderLayerImpl::attention_of_first(const torch::Tensor& x, const torch::Tensor& attention_bias,
                                                   int64_t queries) {
  // The same values as attention() for the first `queries` tokens, without projecting any
  // token's key or value (the late route's last layer: 2 d^2 multiply-adds per token saved,
  // forward and backward). Per head, with W_k, W_v its [head_dim, d] rows:
  //   q . k_t = (W_k^T q) . x_t + q . b_k       (the last term is the same for every key, so
  //                                               softmax cancels it)
  //   sum_t p_t v_t = W_v (sum_t p_t x_t) + b_v (the p_t sum to 1).
  const int64_t B = x.size(0), T = x.size(1), d = num_heads_ * head_dim_, H = num_heads_;
  const torch::Tensor weight = qkv_->weight.view({3, H, head_dim_, d});
  namespace F = torch::nn::functional;
  auto q = F::linear(x.narrow(1, 0, queries), qkv_->weight.narrow(0, 0, d),
                     qkv_bias_ ? qkv_->bias.narrow(0, 0, d) : torch::Tensor())
               .view({B, queries, H, head_dim_});
  // u[b, h, i] = W_k,h^T q[b, i, h] / sqrt(head_dim): [B, H * queries, d], head-major.
  auto u = torch::einsum("bihe,hed->bhid", {q, weight[1]}).div(score_scale_).reshape({B, H * queries, d});
  torch::Tensor bias = attention_bias.defined() ? attention_bias.reshape({B, T}) : torch::Tensor();
  auto mixed = input_attention(x, u, bias).view({B, H, queries, d});  // sum_t p_t x_t per head
  auto context = torch::einsum("bhid,hed->bihe", {mixed, weight[2]});
  if (qkv_bias_) context = context + qkv_->bias.narrow(0, 2 * d, d).view({H, head_dim_});
  return attention_out_(context.reshape({B, queries, d}));
}

torch::Tensor EncoderLayerImpl::attention_at(const torch::Tensor& x, const torch::Tensor& attention_bias,
                                             const torch::Tensor& positions_in) {
  const torch::Tensor positions = positions_in.to(x.device());
  const int64_t B = x.size(0), T = x.size(1), P = positions.size(1), d = num_heads_ * head_dim_;
  namespace F = torch::nn::functional;
  auto rows = gather_rows(x, positions);
  auto q = F::linear(rows, qkv_->weight.narrow(0, 0, d), qkv_bias_ ? qkv_->bias.narrow(0, 0, d) : torch::Tensor())
               .view({B, P, num_heads_, head_dim_}).transpose(1, 2);
  auto kv = F::linear(x, qkv_->weight.narrow(0, d, 2 * d), qkv_bias_ ? qkv_->bias.narrow(0, d, 2 * d) : torch::Tensor())
                .view({B, T, 2, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  auto scores = torch::matmul(q, kv[0].transpose(-1, -2)).div_(score_scale_);  // [B, heads, P, T]
  if (attention_bias.defined()) {
    torch::Tensor bias = attention_bias;
    if (bias.size(2) != 1)  // per query: the bias rows of the queries computed
      bias = bias.expand({B, bias.size(1), T, T})
                 .gather(2, positions.view({B, 1, P, 1}).expand({B, bias.size(1), P, T}));
    scores = scores + bias;
  }
  auto context = torch::matmul(torch::softmax(scores, -1), kv[1]);  // [B, heads, P, head_dim]
  return attention_out_(context.transpose(1, 2).reshape({B, P, d}));
}

torch::Tensor EncoderLayerImpl::mlp(const torch::Tensor& x) {
  auto h = intermediate_(x);
  switch (activation_) {
    case Activation::GeluErf: h = torch::gelu(h); break;
    case Activation::GeluTanh: h = torch::gelu(h, "tanh"); break;
    case Activation::Relu: h = torch::relu(h); break;
  }
  return output_(h);
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& attention_bias,
                                        const OutputRows& rows_in) {
  const int64_t T = hidden.size(1);
  OutputRows rows = rows_in;
  if (rows.leading >= T) rows = {};
  // The first-rows kernel takes one bias per key: with a bias per query (causal, position
  // bias) the leading rows are computed as positions instead.
  if (rows.leading > 0 && attention_bias.defined() && attention_bias.size(2) != 1)
    rows = OutputRows::at(torch::arange(rows.leading, torch::TensorOptions().dtype(torch::kInt64).device(hidden.device()))
                              .expand({hidden.size(0), rows.leading}));
  auto attend = [&](const torch::Tensor& x) {
    if (rows.all()) return attention(x, attention_bias);
    if (rows.leading > 0) return attention_of_first(x, attention_bias, rows.leading);
    return attention_at(x, attention_bias, rows.positions);
  };
  // Every operation after attention acts on each token alone, so the rows asked for need
  // only their own residuals. Pre-norm, leading rows: those rows are taken with the
  // LayerNorm of every row, so that their gradients meet in one pass.
  if (pre_norm_) {
    std::array<torch::Tensor, 2> normed_and_residual;
    if (rows.all()) normed_and_residual = {norm_attention_(hidden), hidden};
    else if (rows.leading > 0) normed_and_residual = layer_norm_and_leading_rows(hidden, norm_attention_, rows.leading);
    else normed_and_residual = {norm_attention_(hidden), gather_rows(hidden, rows.positions)};
    auto h = normed_and_residual[1] + attend(normed_and_residual[0]);
    return h + mlp(norm_mlp_(h));
  }
  const torch::Tensor residual = rows.all() ? hidden
                                 : rows.leading > 0 ? hidden.narrow(1, 0, rows.leading)
                                                    : gather_rows(hidden, rows.positions);
  auto h = norm_attention_(residual + attend(hidden));
  return norm_mlp_(h + mlp(h));
}

void EncoderLayerImpl::load(const Checkpoint& ckpt, const std::string& prefix, const EncoderLayerNames& names) {
  torch::NoGradGuard no_grad;
  const int64_t d = num_heads_ * head_dim_;
  const std::string attn = prefix + "." + names.self_attention + ".";
  // Fused in Hugging Face order q, k, v: rows [0, d) are the query projection, and so on.
  int64_t row = 0;
  for (const char* part : {"query", "key", "value"}) {
    qkv_->weight.narrow(0, row, d).copy_(ckpt.get(attn + part + ".weight", {d, d}));
    if (qkv_bias_) qkv_->bias.narrow(0, row, d).copy_(ckpt.get(attn + part + ".bias", {d}));
    row += d;
  }
  auto load_linear = [&](torch::nn::Linear& l, const std::string& name) {
    ckpt.load(l->weight, prefix + "." + name + ".weight");
    ckpt.load(l->bias, prefix + "." + name + ".bias");
  };
  auto load_norm = [&](torch::nn::LayerNorm& n, const std::string& name) {
    ckpt.load(n->weight, prefix + "." + name + ".weight");
    ckpt.load(n->bias, prefix + "." + name + ".bias");
  };
  load_linear(attention_out_, "attention.output.dense");
  load_linear(intermediate_, "intermediate.dense");
  load_linear(output_, "output.dense");
  load_norm(norm_attention_, names.norm_attention);
  load_norm(norm_mlp_, names.norm_mlp);
}

double attention_bias_lowest(const torch::Tensor& like) {
  switch (like.scalar_type()) {
    case torch::kFloat64: return std::numeric_limits<double>::lowest();
    case torch::kFloat16: return -65504.0;
    case torch::kBFloat16: return -3.3895313892515355e38;
    default: return std::numeric_limits<float>::lowest();
  }
}

torch::Tensor attention_bias_from_mask(const torch::Tensor& mask, const torch::Tensor& like) {
  auto m = mask.to(like.device(), like.scalar_type());
  return ((1 - m) * attention_bias_lowest(like)).view({m.size(0), 1, 1, m.size(1)});
}

torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& positions) {
  return x.gather(1, positions.to(x.device()).unsqueeze(-1).expand({-1, -1, x.size(2)}));
}

void check_layer_index(const std::string& model_type, int64_t i, int64_t num_layers) {
  if (i < 0 || i >= num_layers)
    throw Error(model_type + " backbone: layer " + std::to_string(i) + " out of range (" +
                std::to_string(num_layers) + " layers)");
}

}  // namespace sherl
