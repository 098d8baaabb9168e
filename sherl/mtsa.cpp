#include "sherl/mtsa.h"

#include "lib/core/error.h"

namespace sherl {
namespace {

constexpr double kProjectionNormEps = 1e-5;  // PyTorch's LayerNorm default, as the reference
constexpr double kOutputNormEps = 1e-12;     // the reference's Up LayerNorm, whatever the backbone
constexpr double kCosineEps = 1e-8;          // added to the l2 norm (not clamped)
constexpr double kL1Eps = 1e-8;

// x_i = LayerNorm_h(W_i F_i + b_i)
class LinearLnProjection : public TierProjectionImpl {
 public:
  LinearLnProjection(int64_t d, int64_t h) {
    linear_ = register_module("linear", torch::nn::Linear(d, h));
    norm_ = register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(kProjectionNormEps)));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return norm_(linear_(x)); }

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
    torch::Tensor u = torch::relu(fc1_(x));
    return (fc2_(u) + u) * torch::sigmoid(fc3_(u));
  }

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

std::string options_error(const std::string& what) { return "MTSA options: " + what; }

// The redundancy r_i of every shallow tier: [.., M, h] -> [.., M].
torch::Tensor redundancy(const torch::Tensor& shallow) {
  torch::Tensor unit = shallow / (shallow.norm(2, -1, /*keepdim=*/true) + kCosineEps);
  torch::Tensor cosine = torch::matmul(unit, unit.transpose(-1, -2));  // [.., M, M]
  return torch::relu(cosine).sum(-1);
}

}  // namespace

void MtsaOptions::validate() const {
  if (num_tiers < 1) throw Error(options_error("num_tiers must be at least 1"));
  if (hidden_size < 1) throw Error(options_error("hidden_size must be positive"));
  if (downsample_factor < 1 || hidden_size % downsample_factor != 0)
    throw Error(options_error("downsample_factor " + std::to_string(downsample_factor) +
                              " does not divide hidden_size " + std::to_string(hidden_size)));
  if (projection != "linear-ln" && projection != "gated")
    throw Error(options_error("projection '" + projection + "' is not 'linear-ln' or 'gated'"));
  if (output != "ln" && output != "linear")
    throw Error(options_error("output '" + output + "' is not 'ln' or 'linear'"));
  if (!(dropout >= 0.0 && dropout < 1.0)) throw Error(options_error("dropout must be in [0, 1)"));
  if (!(temperature > 0.0)) throw Error(options_error("temperature must be positive"));
}

MtsaImpl::MtsaImpl(const MtsaOptions& options) : options_(options) {
  options_.validate();
  const int64_t d = options_.hidden_size, h = options_.projection_size();

  proj_ = register_module("proj", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.num_tiers; ++i) {
    std::shared_ptr<TierProjectionImpl> p;
    if (options_.projection == "gated")
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
  if (options_.output == "ln")
    out_norm_ = out->register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kOutputNormEps)));

  gate_ = register_parameter("gate", torch::zeros({1}));
}

torch::Tensor MtsaImpl::gate_value() const { return torch::tanh(gate_ / options_.temperature); }

torch::Tensor MtsaImpl::project(const torch::Tensor& tiers) {
  std::vector<torch::Tensor> xs;
  xs.reserve(projections_.size());
  for (size_t i = 0; i < projections_.size(); ++i)
    xs.push_back(projections_[i]->forward(tiers.select(2, static_cast<int64_t>(i))));
  return torch::stack(xs, 2);
}

torch::Tensor MtsaImpl::up(const torch::Tensor& z) {
  torch::Tensor y = out_linear_(torch::relu(z));
  if (out_norm_) y = torch::dropout(out_norm_(y), options_.dropout, is_training());
  return y;
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
    // every later operation stays finite there.
    tiers = tiers_in.masked_fill(real.logical_not().unsqueeze(-1).unsqueeze(-1), 0);
  }
  torch::Tensor last = tiers.select(2, n - 1);

  torch::Tensor x = project(tiers);                        // [B, T, N, h]
  torch::Tensor guide = x.select(2, n - 1);                // [B, T, h]
  torch::Tensor shallow = x.narrow(2, 0, n - 1);           // [B, T, N-1, h]

  MtsaTrace trace;
  torch::Tensor z = guide;
  if (n > 1) {
    torch::Tensor r = redundancy(shallow);                              // [B, T, N-1]
    // A zero projection would make r = 0; padded tokens (zeroed above) must not divide by it.
    if (real.defined()) r = torch::where(real.unsqueeze(-1), r, torch::ones_like(r));
    torch::Tensor score = attn_(shallow * guide.unsqueeze(2)).squeeze(-1);  // [B, T, N-1]
    torch::Tensor a = torch::relu(score) / r;
    a = a / (a.abs().sum(-1, /*keepdim=*/true) + kL1Eps);
    z = z + (a.unsqueeze(-1) * shallow).sum(2);
    trace.attention = a;
    trace.redundancy = r;
  } else {
    trace.attention = x.new_empty({x.size(0), x.size(1), 0});
    trace.redundancy = trace.attention;
  }
  trace.out = up(z) + gate_value() * last;
  return trace;
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace sherl
