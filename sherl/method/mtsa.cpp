#include "sherl/method/mtsa.h"

#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/core/float16.h"
#include "sherl/kernels/dropout.h"
#include "sherl/kernels/mtsa_output.h"
#include "sherl/kernels/row_parallel_linear.h"
#include "sherl/method/tier_aggregation.h"
#include "sherl/kernels/tier_projections.h"

namespace sherl {
namespace {

constexpr double kProjectionNormEps = 1e-5;  // PyTorch's LayerNorm default, as the reference
constexpr double kOutputNormEps = 1e-12;     // the reference's Up LayerNorm, whatever the backbone

// x_i = LayerNorm_h(W_i F_i + b_i)
class LinearLnProjection : public TierProjectionImpl {
 public:
  LinearLnProjection(int64_t d, int64_t h) {
    linear_ = register_module("linear", torch::nn::Linear(d, h));
    norm_ = register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(kProjectionNormEps)));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return norm_(row_parallel_linear(x, linear_->weight, linear_->bias));
  }
  void add_parameters_to(LinearLnParameters& p) const {
    p.weight.push_back(linear_->weight);
    p.bias.push_back(linear_->bias);
    p.gamma.push_back(norm_->weight);
    p.beta.push_back(norm_->bias);
    p.eps = kProjectionNormEps;
  }

 private:
  torch::nn::Linear linear_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};

// u = relu(W1 F_i + b1); x_i = (W2 u + b2 + u) * sigmoid(W3 u + b3)
class GatedProjection : public TierProjectionImpl {
 public:
  GatedProjection(int64_t d, int64_t h) {
    fc1_ = register_module("fc1", torch::nn::Linear(d, h));
    fc2_ = register_module("fc2", torch::nn::Linear(h, h));
    fc3_ = register_module("fc3", torch::nn::Linear(h, h));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor u = torch::relu(row_parallel_linear(x, fc1_->weight, fc1_->bias));
    return (row_parallel_linear(u, fc2_->weight, fc2_->bias) + u) *
           torch::sigmoid(row_parallel_linear(u, fc3_->weight, fc3_->bias));
  }

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

constexpr EnumName<ProjectionKind> kProjectionNames[] = {{ProjectionKind::LinearLn, "linear-ln"},
                                                         {ProjectionKind::Gated, "gated"}};
constexpr EnumName<OutputKind> kOutputNames[] = {{OutputKind::Ln, "ln"}, {OutputKind::Linear, "linear"}};

std::string options_error(const std::string& what) { return "MTSA options: " + what; }

}  // namespace

std::string to_string(ProjectionKind k) { return name_of(kProjectionNames, k); }
ProjectionKind parse_projection_kind(const std::string& name) {
  return parse_name(kProjectionNames, name, "MTSA projection");
}
std::string to_string(OutputKind k) { return name_of(kOutputNames, k); }
OutputKind parse_output_kind(const std::string& name) { return parse_name(kOutputNames, name, "MTSA output"); }

void MtsaOptions::validate() const {
  if (num_tiers < 1) throw Error(options_error("num_tiers must be at least 1"));
  if (hidden_size < 1) throw Error(options_error("hidden_size must be positive"));
  if (downsample_factor < 1 || hidden_size % downsample_factor != 0)
    throw Error(options_error("downsample_factor " + std::to_string(downsample_factor) +
                              " does not divide hidden_size " + std::to_string(hidden_size)));
  // A LayerNorm over one value is constant, and the redundancy's cosines over one value are
  // all +-1: the projections carry nothing and training diverges at once.
  if (projection_size() < 2)
    throw Error(options_error("downsample_factor " + std::to_string(downsample_factor) + " leaves a width h = " +
                              std::to_string(projection_size()) + " (d = " + std::to_string(hidden_size) +
                              "); h must be at least 2"));
  if (!(dropout >= 0.0 && dropout < 1.0)) throw Error(options_error("dropout must be in [0, 1)"));
  if (!(temperature > 0.0)) throw Error(options_error("temperature must be positive"));
}

MtsaImpl::MtsaImpl(const MtsaOptions& options) : options_(options) {
  options_.validate();
  const int64_t d = options_.hidden_size, h = options_.projection_size();

  proj_ = register_module("proj", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.num_tiers; ++i) {
    std::shared_ptr<TierProjectionImpl> p;
    if (options_.projection == ProjectionKind::Gated)
      p = std::make_shared<GatedProjection>(d, h);
    else
      p = std::make_shared<LinearLnProjection>(d, h);
    proj_->push_back(p);
    projections_.push_back(p);
  }
  attn_ = register_module("attn", torch::nn::Linear(h, 1));

  // "out" is a plain container so that its parameters are named out.linear.* / out.norm.*.
  auto out = register_module("out", std::make_shared<torch::nn::Module>());
  out_linear_ = out->register_module("linear", torch::nn::Linear(h, d));
  if (options_.output == OutputKind::Ln)
    out_norm_ = out->register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kOutputNormEps)));

  gate_ = register_parameter("gate", torch::zeros({1}));
}

torch::Tensor MtsaImpl::gate_value() const { return torch::tanh(gate_ / options_.temperature); }

torch::Tensor MtsaImpl::project(const torch::Tensor& tiers, int64_t first, int64_t count) {
  std::vector<torch::Tensor> xs;
  xs.reserve(static_cast<size_t>(count));
  for (int64_t i = first; i < first + count; ++i) xs.push_back(projections_[i]->forward(tiers.select(2, i)));
  return torch::stack(xs, 2);
}

std::array<torch::Tensor, 2> MtsaImpl::project_all(const torch::Tensor& tiers) {
  const int64_t B = tiers.size(0), T = tiers.size(1), n = options_.num_tiers, h = options_.projection_size();
  if (options_.projection == ProjectionKind::LinearLn) {
    LinearLnParameters p;
    for (const auto& projection : projections_) static_cast<const LinearLnProjection&>(*projection).add_parameters_to(p);
    torch::Tensor rows = tiers.reshape({B * T, n, tiers.size(3)});
    if (tier_projections_kernel_applies(rows, p)) return project_tiers_linear_ln(rows, p);
  }
  // Guide and shallow tiers projected apart: slicing one stacked tensor would make the
  // backward pass build and fill a zero gradient of the whole stack for each slice.
  const torch::Tensor values = widen_half(tiers);
  torch::Tensor guide = projections_[n - 1]->forward(values.select(2, n - 1)).reshape({B * T, h});
  torch::Tensor shallow = n > 1 ? project(values, 0, n - 1).reshape({B * T, n - 1, h}) : guide.new_empty({B * T, 0, h});
  return {shallow, guide};
}

torch::Tensor MtsaImpl::output(const torch::Tensor& z, const torch::Tensor& last) {
  torch::Tensor y = row_parallel_linear(torch::relu(z), out_linear_->weight, out_linear_->bias);  // [B, T, d]
  torch::Tensor gate = gate_value();
  if (!out_norm_) return y + gate * last;
  const auto &gamma = out_norm_->weight, &beta = out_norm_->bias;
  torch::Tensor y_rows = y.reshape({-1, options_.hidden_size}), last_rows = last.reshape({-1, options_.hidden_size});
  // Checked before the dropout mask is drawn, so that either way one seed is drawn.
  if (mtsa_output_kernel_applies(y_rows, last_rows, gamma, beta, gate, torch::Tensor())) {
    torch::Tensor mask;
    if (is_training() && options_.dropout > 0)
      mask = next_dropout_mask(y_rows.sizes(), options_.dropout).to(y.scalar_type());
    return mtsa_output_ln(y_rows, last_rows, gamma, beta, kOutputNormEps, gate, mask).view(y.sizes());
  }
  return inverted_dropout(out_norm_(y), options_.dropout, is_training()) + gate * last;
}

torch::Tensor MtsaImpl::forward(const torch::Tensor& tiers, const torch::Tensor& mask) {
  return forward_traced(tiers, mask).out;
}

MtsaTrace MtsaImpl::forward_traced(const torch::Tensor& tiers_in, const torch::Tensor& mask_in) {
  const int64_t n = options_.num_tiers;
  TORCH_CHECK(tiers_in.dim() == 4 && tiers_in.size(2) == n && tiers_in.size(3) == options_.hidden_size,
              "MTSA: tiers must be [B, T, ", n, ", ", options_.hidden_size, "], got ", tiers_in.sizes());
  torch::Tensor tiers = tiers_in, real;
  if (mask_in.defined()) {
    TORCH_CHECK(mask_in.dim() == 2 && mask_in.size(0) == tiers_in.size(0) &&
                    mask_in.size(1) == tiers_in.size(1),
                "MTSA: mask must be [B, T] = [", tiers_in.size(0), ", ", tiers_in.size(1), "], got ",
                mask_in.sizes());
    real = mask_in.to(tiers_in.device(), torch::kBool);
    // Padded positions may hold anything (even NaN in a reused buffer): zero them so that
    // every later operation stays finite there. (Images have no padding: skip the copy.)
    torch::Tensor padding = real.logical_not();
    if (padding.any().item<bool>()) tiers = tiers_in.masked_fill(padding.unsqueeze(-1).unsqueeze(-1), 0);
  }
  torch::Tensor last = widen_half(tiers.select(2, n - 1));
  const int64_t B = tiers.size(0), T = tiers.size(1), h = options_.projection_size();
  auto [shallow, guide] = project_all(tiers);  // [B*T, N-1, h], [B*T, h]

  MtsaTrace trace;
  torch::Tensor z = guide.view({B, T, h});
  if (n > 1) {
    TierAggregation agg = aggregate_tiers(shallow, guide, attn_->weight, attn_->bias,
                                          real.defined() ? real.reshape({B * T}) : real);
    z = agg.z.view({B, T, h});
    trace.attention = agg.attention.view({B, T, n - 1});
    trace.redundancy = agg.redundancy.view({B, T, n - 1});
  } else {
    trace.attention = guide.new_empty({B, T, 0});
    trace.redundancy = trace.attention;
  }
  trace.out = output(z, last);
  return trace;
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace sherl
