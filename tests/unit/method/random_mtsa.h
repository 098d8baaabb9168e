#pragma once
// Test helpers: an MTSA whose every term matters (non-zero gate, LayerNorm parameters away
// from 1/0), and small random tier inputs.
#include "sherl/method/mtsa.h"

#include <torch/torch.h>

#include <string>

namespace sherl::test {

inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

inline MtsaOptions small_options(const std::string& projection, const std::string& output,
                                 int64_t num_tiers = 4, int64_t d = 16) {
  MtsaOptions o;
  o.num_tiers = num_tiers;
  o.hidden_size = d;
  o.projection = parse_projection_kind(projection);
  o.output = parse_output_kind(output);
  return o;
}

// Randomises the LayerNorm affine parameters, opens the gate (tanh(0.04 / 0.1) ~ 0.38) and
// makes the attention bias positive; the Linear layers keep their random initialisation.
// Why the bias: the gated projections start with small outputs, so s_i ~ c, and a negative
// c switches every relu(s_i) off: no attention, and no gradient to the shallow tiers.
inline void randomise(Mtsa& mtsa, double gate = 0.04) {
  torch::NoGradGuard no_grad;
  for (auto& p : mtsa->named_parameters()) {
    if (ends_with(p.key(), "norm.weight"))
      p.value().copy_(1 + 0.3 * torch::randn_like(p.value()));
    else if (ends_with(p.key(), "norm.bias"))
      p.value().copy_(0.2 * torch::randn_like(p.value()));
    else if (p.key() == "gate")
      p.value().fill_(gate);
    else if (p.key() == "attn.bias")
      p.value().fill_(0.1);
  }
}

inline torch::Tensor random_tiers(const MtsaOptions& o, int64_t batch = 2, int64_t tokens = 5,
                                  torch::Dtype dtype = torch::kFloat) {
  return torch::randn({batch, tokens, o.num_tiers, o.hidden_size}, torch::dtype(dtype));
}

}  // namespace sherl::test
