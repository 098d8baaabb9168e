#include "lib/model/encoder_layer.h"

#include <array>
#include <cmath>
#include <limits>

#include "lib/core/error.h"
#include "lib/model/checkpoint.h"
#include "lib/model/input_attention.h"
#include "lib/model/norm_and_leading_rows.h"

namespace sherl {

EncoderLayerOptions encoder_layer_options(const EncoderConfig& c, bool pre_norm, bool qkv_bias) {
  EncoderLayerOptions o;
  o.hidden_size = c.hidden_size;
  o.num_heads = c.num_heads;
  o.head_dim = c.hidden_size / c.num_heads;
  o.intermediate_size = c.intermediate_size;
  o.activation = c.activation;
  o.norm_eps = c.layer_norm_eps;
  o.pre_norm = pre_norm;
  o.qkv_bias = qkv_bias;
  return o;
}

EncoderLayerImpl::EncoderLayerImpl(const EncoderLayerOptions& o)
    : options_(o), inner_(o.num_heads * o.head_dim), kv_inner_((o.num_kv_heads > 0 ? o.num_kv_heads : o.num_heads) * o.head_dim) {
  if (options_.num_kv_heads <= 0) options_.num_kv_heads = options_.num_heads;
  if (options_.num_heads % options_.num_kv_heads != 0)
    throw Error("encoder layer: " + std::to_string(options_.num_kv_heads) + " key/value heads do not divide " +
                std::to_string(options_.num_heads) + " query heads");
  const int64_t d = o.hidden_size;
  auto linear = [](int64_t in, int64_t out, bool bias) { return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)); };
  qkv_ = register_module("qkv", linear(d, inner_ + 2 * kv_inner_, o.qkv_bias));
  attention_out_ = register_module("attention_out", linear(inner_, d, o.out_bias));
  mlp_in_ = register_module("mlp_in", linear(d, o.intermediate_size, o.mlp_bias));
  if (o.mlp == MlpKind::Gated) mlp_up_ = register_module("mlp_up", linear(d, o.intermediate_size, o.mlp_bias));
  mlp_out_ = register_module("mlp_out", linear(o.intermediate_size, d, o.mlp_bias));
  norm_attention_ = register_module("norm_attention", Norm(o.norm, d, o.norm_eps));
  norm_mlp_ = register_module("norm_mlp", Norm(o.norm, d, o.norm_eps));
}

torch::Tensor EncoderLayerImpl::heads(const torch::Tensor& projected, int64_t first, int64_t n) const {
  const int64_t B = projected.size(0), T = projected.size(1), hd = options_.head_dim, H = options_.num_heads;
  // A view, no copy: [B, T, n, hd] -> [B, n, T, hd].
  auto t = projected.narrow(2, first * hd, n * hd).view({B, T, n, hd}).transpose(1, 2);
  if (n == H) return t;
  // Grouped-query attention: key/value head j serves query heads j*H/n .. (j+1)*H/n - 1.
  return t.unsqueeze(2).expand({B, n, H / n, T, hd}).reshape({B, H, T, hd});
}

torch::Tensor EncoderLayerImpl::scaled(torch::Tensor scores) const {
  return options_.scale_scores ? scores.div_(std::sqrt(static_cast<double>(options_.head_dim))) : scores;
}

torch::Tensor EncoderLayerImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& bias) {
  // As Hugging Face: (q k^T) / sqrt(head_dim) + bias, then softmax over keys.
  auto scores = scaled(torch::matmul(q, k.transpose(-1, -2)));  // [B, heads, P, T]
  if (bias.defined()) scores.add_(bias);
  auto context = torch::matmul(torch::softmax(scores, -1), v);  // [B, heads, P, head_dim]
  return attention_out_(context.transpose(1, 2).reshape({q.size(0), q.size(2), inner_}));
}

torch::Tensor EncoderLayerImpl::attention(const torch::Tensor& x, const LayerState& state) {
  const int64_t H = options_.num_heads, KV = options_.num_kv_heads;
  const torch::Tensor projected = qkv_(x);  // [B, T, inner + 2 kv_inner]
  torch::Tensor q = heads(projected, 0, H), k = heads(projected, H, KV), v = heads(projected, H + KV, KV);
  if (state.rotary_cos.defined()) {
    const int64_t T = x.size(1), hd = options_.head_dim;
    const auto cos = state.rotary_cos.view({1, 1, T, hd}), sin = state.rotary_sin.view({1, 1, T, hd});
    q = apply_rotary(q, cos, sin);
    k = apply_rotary(k, cos, sin);
  }
  return attend(q, k, v, state.attention_bias);
}

torch::Tensor EncoderLayerImpl::attention_of_first(const torch::Tensor& x, const torch::Tensor& attention_bias,
                                                   int64_t queries) {
  // The same values as attention() for the first `queries` tokens, without projecting any
  // token's key or value (the late route's last layer: 2 d inner multiply-adds per token
  // saved, forward and backward). Per head, with W_k, W_v its [head_dim, d] rows:
  //   q . k_t = (W_k^T q) . x_t + q . b_k       (the last term is the same for every key, so
  //                                               softmax cancels it)
  //   sum_t p_t v_t = W_v (sum_t p_t x_t) + b_v (the p_t sum to 1).
  const int64_t B = x.size(0), T = x.size(1), d = options_.hidden_size, H = options_.num_heads, hd = options_.head_dim;
  const torch::Tensor weight = qkv_->weight.view({3, H, hd, d});
  namespace F = torch::nn::functional;
  auto q = F::linear(x.narrow(1, 0, queries), qkv_->weight.narrow(0, 0, inner_),
                     options_.qkv_bias ? qkv_->bias.narrow(0, 0, inner_) : torch::Tensor())
               .view({B, queries, H, hd});
  // u[b, h, i] = W_k,h^T q[b, i, h] (/ sqrt(head_dim)): [B, H * queries, d], head-major.
  auto u = scaled(torch::einsum("bihe,hed->bhid", {q, weight[1]})).reshape({B, H * queries, d});
  torch::Tensor bias = attention_bias.defined() ? attention_bias.reshape({B, T}) : torch::Tensor();
  auto mixed = input_attention(x, u, bias).view({B, H, queries, d});  // sum_t p_t x_t per head
  auto context = torch::einsum("bhid,hed->bihe", {mixed, weight[2]});
  if (options_.qkv_bias) context = context + qkv_->bias.narrow(0, 2 * inner_, inner_).view({H, hd});
  return attention_out_(context.reshape({B, queries, inner_}));
}

torch::Tensor EncoderLayerImpl::attention_at(const torch::Tensor& x, const LayerState& state,
                                             const torch::Tensor& positions_in) {
  const torch::Tensor positions = positions_in.to(x.device());
  const int64_t B = x.size(0), T = x.size(1), P = positions.size(1), H = options_.num_heads,
                KV = options_.num_kv_heads, hd = options_.head_dim;
  namespace F = torch::nn::functional;
  auto projection = [&](const torch::Tensor& in, int64_t first, int64_t size) {
    return F::linear(in, qkv_->weight.narrow(0, first, size),
                     options_.qkv_bias ? qkv_->bias.narrow(0, first, size) : torch::Tensor());
  };
  torch::Tensor q = heads(projection(gather_rows(x, positions), 0, inner_), 0, H);  // [B, H, P, hd]
  const torch::Tensor kv = projection(x, inner_, 2 * kv_inner_);
  torch::Tensor k = heads(kv, 0, KV), v = heads(kv, KV, KV);
  if (state.rotary_cos.defined()) {
    auto at = [&](const torch::Tensor& table) { return table.index_select(0, positions.reshape(-1)).view({B, 1, P, hd}); };
    q = apply_rotary(q, at(state.rotary_cos), at(state.rotary_sin));
    k = apply_rotary(k, state.rotary_cos.view({1, 1, T, hd}), state.rotary_sin.view({1, 1, T, hd}));
  }
  torch::Tensor bias = state.attention_bias;
  if (bias.defined() && bias.size(2) != 1)  // per query: the bias rows of the queries computed
    bias = bias.expand({B, bias.size(1), T, T}).gather(2, positions.view({B, 1, P, 1}).expand({B, bias.size(1), P, T}));
  return attend(q, k, v, bias);
}

torch::Tensor EncoderLayerImpl::activate(const torch::Tensor& h) const {
  switch (options_.activation) {
    case Activation::GeluErf: return torch::gelu(h);
    case Activation::GeluTanh: return torch::gelu(h, "tanh");
    case Activation::Relu: return torch::relu(h);
    case Activation::Silu: return torch::silu(h);
    case Activation::QuickGelu: return h * torch::sigmoid(1.702 * h);
  }
  return h;
}

torch::Tensor EncoderLayerImpl::mlp(const torch::Tensor& x) {
  auto h = activate(mlp_in_(x));
  if (options_.mlp == MlpKind::Gated) h = h * mlp_up_(x);
  return mlp_out_(h);
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& hidden, const LayerState& state,
                                        const OutputRows& rows_in) {
  const int64_t T = hidden.size(1);
  const torch::Tensor& attention_bias = state.attention_bias;
  OutputRows rows = rows_in;
  if (rows.leading >= T) rows = {};
  // The first-rows kernel takes one bias per key, the same number of query and key heads and
  // no rotary positions, and its pre-norm form a LayerNorm: otherwise the leading rows are
  // computed as positions instead.
  const bool per_query_bias = attention_bias.defined() && attention_bias.size(2) != 1;
  const bool first_rows_kernel = !per_query_bias && !state.rotary_cos.defined() &&
                                 options_.num_kv_heads == options_.num_heads &&
                                 !(options_.pre_norm && options_.norm != NormKind::Layer);
  if (rows.leading > 0 && !first_rows_kernel)
    rows = OutputRows::at(torch::arange(rows.leading, torch::TensorOptions().dtype(torch::kInt64).device(hidden.device()))
                              .expand({hidden.size(0), rows.leading}));
  auto attend = [&](const torch::Tensor& x) {
    if (rows.all()) return attention(x, state);
    if (rows.leading > 0) return attention_of_first(x, attention_bias, rows.leading);
    return attention_at(x, state, rows.positions);
  };
  // Every operation after attention acts on each token alone, so the rows asked for need
  // only their own residuals. Pre-norm, leading rows: those rows are taken with the
  // LayerNorm of every row, so that their gradients meet in one pass.
  if (options_.pre_norm) {
    std::array<torch::Tensor, 2> normed_and_residual;
    if (rows.all()) normed_and_residual = {norm_attention_(hidden), hidden};
    else if (rows.leading > 0)
      normed_and_residual = layer_norm_and_leading_rows(hidden, norm_attention_->weight(), norm_attention_->bias(),
                                                        norm_attention_->eps(), rows.leading);
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
  const std::string at = prefix + ".";
  // Fused in Hugging Face order q, k, v: rows [0, inner) are the query projection, and so on.
  int64_t row = 0;
  for (const auto& [part, rows] : {std::pair{&names.query, inner_}, {&names.key, kv_inner_}, {&names.value, kv_inner_}}) {
    qkv_->weight.narrow(0, row, rows).copy_(ckpt.get(at + *part + ".weight", {rows, options_.hidden_size}));
    if (options_.qkv_bias) qkv_->bias.narrow(0, row, rows).copy_(ckpt.get(at + *part + ".bias", {rows}));
    row += rows;
  }
  auto load_linear = [&](torch::nn::Linear& l, const std::string& name, bool bias) {
    ckpt.load(l->weight, at + name + ".weight");
    if (bias) ckpt.load(l->bias, at + name + ".bias");
  };
  load_linear(attention_out_, names.attention_out, options_.out_bias);
  load_linear(mlp_in_, names.mlp_in, options_.mlp_bias);
  if (options_.mlp == MlpKind::Gated) load_linear(mlp_up_, names.mlp_up, options_.mlp_bias);
  load_linear(mlp_out_, names.mlp_out, options_.mlp_bias);
  norm_attention_->load(ckpt, at + names.norm_attention);
  norm_mlp_->load(ckpt, at + names.norm_mlp);
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

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
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
