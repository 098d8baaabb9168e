// The MTSA module: parameter names and initialisation, the properties the method
// guarantees (closed gate at init, r_i >= 1, attention weights in the simplex), gradients,
// masks, N == 1. Numerical parity with an independent implementation: mtsa_reference_test.
#include "sherl/method/mtsa.h"

#include "lib/core/error.h"
#include "tests/unit/method/random_mtsa.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace sherl {
namespace {

using test::random_tiers;
using test::randomise;
using test::small_options;

std::set<std::string> parameter_names(Mtsa& m) {
  std::set<std::string> names;
  for (const auto& p : m->named_parameters()) names.insert(p.key());
  return names;
}

TEST(Mtsa, LinearLnParameterNamesAndShapes) {
  Mtsa m(small_options("linear-ln", "ln", 3, 16));
  std::set<std::string> expected = {"attn.weight", "attn.bias", "out.linear.weight", "out.linear.bias",
                                    "out.norm.weight", "out.norm.bias", "gate"};
  for (int i = 0; i < 3; ++i)
    for (const char* s : {"linear.weight", "linear.bias", "norm.weight", "norm.bias"})
      expected.insert("proj." + std::to_string(i) + "." + s);
  EXPECT_EQ(parameter_names(m), expected);
  auto p = m->named_parameters();
  EXPECT_EQ(p["proj.2.linear.weight"].sizes(), (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(p["proj.2.norm.weight"].sizes(), (std::vector<int64_t>{8}));
  EXPECT_EQ(p["attn.weight"].sizes(), (std::vector<int64_t>{1, 8}));
  EXPECT_EQ(p["out.linear.weight"].sizes(), (std::vector<int64_t>{16, 8}));
  EXPECT_EQ(p["out.norm.weight"].sizes(), (std::vector<int64_t>{16}));
  EXPECT_EQ(p["gate"].sizes(), (std::vector<int64_t>{1}));
}

TEST(Mtsa, GatedParameterNamesWithoutOutputNorm) {
  MtsaOptions o = small_options("gated", "linear", 2, 16);
  o.downsample_factor = 4;
  Mtsa m(o);
  std::set<std::string> expected = {"attn.weight", "attn.bias", "out.linear.weight", "out.linear.bias", "gate"};
  for (int i = 0; i < 2; ++i)
    for (const char* s : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"})
      expected.insert("proj." + std::to_string(i) + "." + s);
  EXPECT_EQ(parameter_names(m), expected);
  auto p = m->named_parameters();
  EXPECT_EQ(p["proj.1.fc1.weight"].sizes(), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(p["proj.1.fc3.weight"].sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(p["out.linear.weight"].sizes(), (std::vector<int64_t>{16, 4}));
}

TEST(Mtsa, InitialisationIsPyTorchDefault) {
  torch::manual_seed(1);
  Mtsa m(small_options("linear-ln", "ln", 3, 64));
  for (const auto& p : m->named_parameters()) {
    const std::string& name = p.key();
    const torch::Tensor& v = p.value();
    if (name == "gate") {
      EXPECT_EQ(v.item<float>(), 0.0f);
    } else if (test::ends_with(name, "norm.weight")) {
      EXPECT_TRUE(v.eq(1).all().item<bool>()) << name;
    } else if (test::ends_with(name, "norm.bias")) {
      EXPECT_TRUE(v.eq(0).all().item<bool>()) << name;
    } else {
      // nn.Linear: kaiming_uniform(a = sqrt(5)) and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      const int64_t fan_in = name.rfind("attn", 0) == 0 || name.rfind("out", 0) == 0 ? 32 : 64;
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      EXPECT_LE(v.abs().max().item<double>(), bound + 1e-7) << name;
      if (v.numel() >= 8) EXPECT_GT(v.abs().max().item<double>(), 0.5 * bound) << name;
    }
  }
}

TEST(Mtsa, GateStartsClosed) {
  torch::manual_seed(2);
  for (const char* output : {"ln", "linear"}) {
    Mtsa m(small_options("linear-ln", output));
    m->eval();
    EXPECT_EQ(m->gate_value().item<float>(), 0.0f);
    torch::Tensor tiers = random_tiers(m->options());
    torch::Tensor closed = m->forward(tiers);
    // Opening the gate adds exactly tanh(gamma / T) * last: at init that term was 0 * last.
    { torch::NoGradGuard g; m->named_parameters()["gate"].fill_(0.05); }
    torch::Tensor open = m->forward(tiers);
    torch::Tensor last = tiers.select(2, 3);
    EXPECT_TRUE(torch::allclose(open - closed, std::tanh(0.5) * last, 1e-5, 1e-5)) << output;
    EXPECT_GT((open - closed).abs().max().item<double>(), 0.1);
  }
}

TEST(Mtsa, RedundancyAtLeastOneAndAttentionInSimplex) {
  torch::manual_seed(3);
  for (const char* projection : {"linear-ln", "gated"}) {
    Mtsa m(small_options(projection, "ln", 6, 16));
    randomise(m);
    m->eval();
    MtsaTrace t = m->forward_traced(random_tiers(m->options(), 3, 7));
    ASSERT_EQ(t.redundancy.sizes(), (std::vector<int64_t>{3, 7, 5}));
    ASSERT_EQ(t.attention.sizes(), (std::vector<int64_t>{3, 7, 5}));
    // r_i includes cos(x_i, x_i) ~ 1 and is at most |S| = 5.
    EXPECT_GE(t.redundancy.min().item<double>(), 1.0 - 1e-5) << projection;
    EXPECT_LE(t.redundancy.max().item<double>(), 5.0 + 1e-5) << projection;
    EXPECT_GE(t.attention.min().item<double>(), 0.0) << projection;
    torch::Tensor sums = t.attention.sum(-1);
    EXPECT_LE(sums.max().item<double>(), 1.0 + 1e-6) << projection;
    // Every token with some positive score has weights summing to ~1.
    torch::Tensor active = sums.gt(0);
    ASSERT_GT(active.sum().item<int64_t>(), 0) << projection;
    EXPECT_TRUE(torch::allclose(sums.masked_select(active), torch::ones({active.sum().item<int64_t>()}),
                                1e-5, 1e-5)) << projection;
  }
}

void expect_every_parameter_gets_gradient(Mtsa& m) {
  torch::Tensor tiers = random_tiers(m->options(), 2, 6);
  MtsaTrace t = m->forward_traced(tiers);
  ASSERT_GT(t.attention.max().item<double>(), 0.0);
  torch::Tensor out = t.out;
  // A weighted sum: the plain sum of a LayerNorm output does not depend on its input.
  (out * torch::randn_like(out)).sum().backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(Mtsa, GradientsReachEveryParameter) {
  torch::manual_seed(4);
  for (const char* projection : {"linear-ln", "gated"})
    for (const char* output : {"ln", "linear"})
      for (bool at_init : {true, false}) {
        SCOPED_TRACE(std::string(projection) + "/" + output + (at_init ? " at init" : " randomised"));
        Mtsa m(small_options(projection, output));
        if (at_init) {
          // Only the attention bias is moved (see randomise()); the gate stays at 0.
          torch::NoGradGuard g;
          m->named_parameters()["attn.bias"].fill_(0.1);
        } else {
          randomise(m);
        }
        m->eval();
        expect_every_parameter_gets_gradient(m);
      }
}

TEST(Mtsa, SingleTierUsesTheGuideOnly) {
  torch::manual_seed(5);
  Mtsa m(small_options("linear-ln", "ln", 1, 16));
  randomise(m);
  m->eval();
  torch::Tensor tiers = random_tiers(m->options(), 2, 3);
  MtsaTrace t = m->forward_traced(tiers);
  EXPECT_EQ(t.attention.size(-1), 0);
  // z = g = LN(W_0 F_0 + b_0); out = LN_d(W_o relu(z) + b_o) + tanh(gamma / T) F_0
  auto p = m->named_parameters();
  namespace Fn = torch::nn::functional;
  torch::Tensor f = tiers.select(2, 0);
  torch::Tensor g = Fn::layer_norm(torch::linear(f, p["proj.0.linear.weight"], p["proj.0.linear.bias"]),
                                   Fn::LayerNormFuncOptions({8}).weight(p["proj.0.norm.weight"])
                                       .bias(p["proj.0.norm.bias"]).eps(1e-5));
  torch::Tensor up = Fn::layer_norm(torch::linear(torch::relu(g), p["out.linear.weight"], p["out.linear.bias"]),
                                    Fn::LayerNormFuncOptions({16}).weight(p["out.norm.weight"])
                                        .bias(p["out.norm.bias"]).eps(1e-12));
  torch::Tensor expected = up + std::tanh(0.4) * f;
  EXPECT_TRUE(torch::allclose(t.out, expected, 1e-5, 1e-5));
}

TEST(Mtsa, MaskedTokensStayFiniteAndDoNotAffectOthers) {
  torch::manual_seed(6);
  for (const char* projection : {"linear-ln", "gated"}) {
    Mtsa m(small_options(projection, "ln"));
    randomise(m);
    m->eval();
    torch::Tensor tiers = random_tiers(m->options(), 2, 5);
    torch::Tensor mask = torch::ones({2, 5}, torch::kBool);
    mask.index_put_({1, torch::indexing::Slice(3)}, false);
    mask.index_put_({0, 4}, false);
    torch::Tensor garbage = tiers.clone();
    garbage.index_put_({1, 3}, NAN);
    garbage.index_put_({1, 4}, 0.0);  // all-zero tiers: a zero projection is possible there
    garbage.index_put_({0, 4}, 1e30);
    torch::Tensor reference = m->forward(tiers);
    torch::Tensor out = m->forward(garbage, mask);
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << projection;
    torch::Tensor real = mask.unsqueeze(-1).expand_as(out);
    EXPECT_TRUE(torch::allclose(out.masked_select(real), reference.masked_select(real), 1e-6, 1e-6)) << projection;
    // An integer 0/1 mask means the same.
    EXPECT_TRUE(torch::equal(m->forward(garbage, mask.to(torch::kLong)), out)) << projection;
  }
}

TEST(Mtsa, RunsInFloat64AndDropoutOnlyInTraining) {
  torch::manual_seed(7);
  Mtsa m(small_options("linear-ln", "ln"));
  randomise(m);
  m->to(torch::kFloat64);
  torch::Tensor tiers = random_tiers(m->options(), 2, 5, torch::kFloat64);
  m->eval();
  torch::Tensor a = m->forward(tiers), b = m->forward(tiers);
  EXPECT_EQ(a.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(a, b));
  m->train();
  torch::Tensor c = m->forward(tiers);
  // Dropout(0.1) zeroes about a tenth of Up(z) and rescales the rest.
  const double changed = (c != a).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(changed, 0.5);
}

TEST(Mtsa, RejectsBadOptions) {
  MtsaOptions o = small_options("linear-ln", "ln");
  o.downsample_factor = 3;
  EXPECT_THROW(Mtsa{o}, Error);
  // Unknown kinds cannot be expressed any more; their names are refused where they are parsed.
  EXPECT_THROW(parse_projection_kind("lora"), Error);
  EXPECT_THROW(parse_output_kind("mlp"), Error);
  o = small_options("gated", "ln", 0);
  EXPECT_THROW(Mtsa{o}, Error);
  o = small_options("gated", "ln");
  o.temperature = 0;
  EXPECT_THROW(Mtsa{o}, Error);
  Mtsa m(small_options("gated", "ln", 3));
  EXPECT_THROW(m->forward(torch::zeros({2, 5, 4, 16})), c10::Error);  // 4 tiers for 3
}

}  // namespace
}  // namespace sherl
