// BERT / RoBERTa parity against an independent torch.nn implementation:
// tests/python/model_reference.py writes small random models (F32 with the 'bert.' prefix
// and a task head; F16 sharded with an index; BF16 without prefix) and every tier and the
// pooled output on a padded batch, which the loaded backbones must reproduce.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/model/backbone.h"
#include "lib/model/encoder_layer.h"
#include "lib/model/safetensors.h"

namespace fs = std::filesystem;

namespace {

// The reference data is generated once per version of the script (ctest runs each test in
// its own process, and importing torch takes seconds): into a temporary directory, then
// renamed to a name keyed by the script's digest, so that concurrent tests never see half.
class TextParity : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    const std::string script = std::string(SHERL_SOURCE_DIR) + "/tests/python/model_reference.py";
    dir_ = new fs::path(fs::path(SHERL_BINARY_DIR) / "tests" /
                        ("model-reference-" + sherl::sha256_file(script).substr(0, 16)));
    if (fs::exists(*dir_)) return;
    fs::path tmp = dir_->string() + ".tmp." + std::to_string(::getpid());
    fs::create_directories(tmp);
    std::string cmd = "/usr/bin/python3 " + script + " " + tmp.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::error_code ec;
    fs::rename(tmp, *dir_, ec);  // fails harmlessly when another test process won the race
    if (ec) fs::remove_all(tmp);
    ASSERT_TRUE(fs::exists(*dir_));
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path* dir_;
};
fs::path* TextParity::dir_ = nullptr;

// Max |a - b| over the valid tokens (mask [B, T]) of [B, T, d] tensors.
double max_diff_on_tokens(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(a);
  return (a - b).abs().masked_select(valid).max().item<double>();
}

TEST_P(TextParity, EveryTierAndPoolMatchReference) {
  const std::string name = GetParam();
  sherl::SafetensorsFile ref((*dir_ / (name + "-reference.safetensors")).string());
  auto backbone = sherl::load_backbone((*dir_ / name).string());
  const int64_t L = backbone->num_layers();
  ASSERT_EQ(L, 3);
  EXPECT_EQ(backbone->hidden_size(), 32);
  EXPECT_TRUE(backbone->is_text());

  sherl::ModelInputs in;
  in.input_ids = ref.get("input_ids");
  in.token_type_ids = ref.get("token_type_ids");
  in.attention_mask = ref.get("attention_mask");
  auto mask = backbone->token_mask(in);
  ASSERT_TRUE(torch::equal(mask, in.attention_mask));
  ASSERT_LT(mask.sum().item<int64_t>(), mask.numel()) << "the batch must contain padding";

  std::vector<int64_t> all{0, 1, 2, 3};
  auto tiers = sherl::compute_tiers(*backbone, in, all);
  double worst = 0;
  for (int64_t t = 0; t <= L; ++t) {
    double d = max_diff_on_tokens(tiers.select(2, t), ref.get("tier_" + std::to_string(t)), mask);
    std::printf("%s tier %lld: max |diff| %.3g\n", name.c_str(), static_cast<long long>(t), d);
    EXPECT_LT(d, 1e-4) << "tier " << t;
    worst = std::max(worst, d);
  }
  torch::NoGradGuard no_grad;
  auto pooled = backbone->pool(tiers.select(2, L), backbone->layer_state(mask, tiers.select(2, L)));
  double pool_diff = (pooled - ref.get("pool")).abs().max().item<double>();
  std::printf("%s pool: max |diff| %.3g\n", name.c_str(), pool_diff);
  EXPECT_LT(pool_diff, 1e-4);
  // A tier has real magnitude: a match is not a match of zeros.
  EXPECT_GT(ref.get("tier_3").abs().max().item<double>(), 0.5);
}

INSTANTIATE_TEST_SUITE_P(Models, TextParity, ::testing::Values("bert", "roberta", "bert-relu"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s) if (c == '-') c = '_';
                           return s;
                         });

// The late route runs layers with gradients flowing to their input, never to their weights.
TEST_F(TextParity, LayerIsDifferentiableInItsInputOnly) {
  sherl::SafetensorsFile ref((*dir_ / "bert-reference.safetensors").string());
  auto backbone = sherl::load_backbone((*dir_ / "bert").string());
  auto hidden = ref.get("tier_2").clone().requires_grad_(true);
  auto state = backbone->layer_state(ref.get("attention_mask"), hidden);
  auto out = backbone->layer(2, hidden, state);
  EXPECT_LT(max_diff_on_tokens(out.detach(), ref.get("tier_3"), ref.get("attention_mask")), 1e-4);
  out.sum().backward();
  ASSERT_TRUE(hidden.grad().defined());
  EXPECT_GT(hidden.grad().abs().sum().item<double>(), 0);
  for (const auto& p : backbone->layer_parameters(2)) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
  }
  EXPECT_THROW(backbone->layer(3, hidden, state), sherl::Error);
}

// The late route's last layer computes only the pooled token: with queries = 1 a layer
// gives the first row of its full output (post-LN BERT, padded batch), and gradients to
// its input match those of the full layer restricted to that row.
TEST_F(TextParity, LayerForFirstTokensOnlyMatchesFullLayer) {
  sherl::SafetensorsFile ref((*dir_ / "bert-reference.safetensors").string());
  auto backbone = sherl::load_backbone((*dir_ / "bert").string());
  auto mask = ref.get("attention_mask");
  auto full_in = ref.get("tier_2").clone().requires_grad_(true);
  auto part_in = ref.get("tier_2").clone().requires_grad_(true);
  auto state = backbone->layer_state(mask, full_in);
  auto full = backbone->layer(2, full_in, state);
  auto part = backbone->layer(2, part_in, state, sherl::OutputRows::first(1));
  ASSERT_EQ(part.sizes(), (std::vector<int64_t>{full.size(0), 1, full.size(2)}));
  EXPECT_LT((part - full.narrow(1, 0, 1)).abs().max().item<double>(), 1e-5);
  full.narrow(1, 0, 1).sum().backward();
  part.sum().backward();
  EXPECT_GT(part_in.grad().narrow(1, 1, 2).abs().sum().item<double>(), 0);  // keys/values carry gradient
  EXPECT_LT((part_in.grad() - full_in.grad()).abs().max().item<double>(), 1e-5);
  // A query count of T or more is the whole layer.
  EXPECT_EQ(backbone->layer(2, part_in, state, sherl::OutputRows::first(1000)).sizes(), full.sizes());
  // Rows by position: the rows of the full output at those positions, one set per example.
  auto positions = (torch::arange(full.size(0), torch::kInt64) * 2 + 1).remainder(full.size(1)).view({-1, 1});
  auto at = backbone->layer(2, ref.get("tier_2"), state, sherl::OutputRows::at(positions));
  EXPECT_LT((at - sherl::gather_rows(full.detach(), positions)).abs().max().item<double>(), 1e-5);
}

// Padding changes nothing for the valid tokens of a sequence (the mask really masks).
TEST_F(TextParity, PaddingDoesNotLeakIntoValidTokens) {
  sherl::SafetensorsFile ref((*dir_ / "roberta-reference.safetensors").string());
  auto backbone = sherl::load_backbone((*dir_ / "roberta").string());
  sherl::ModelInputs padded;
  padded.input_ids = ref.get("input_ids").narrow(0, 2, 1);  // 3 tokens, then 6 pads
  padded.token_type_ids = ref.get("token_type_ids").narrow(0, 2, 1);
  padded.attention_mask = ref.get("attention_mask").narrow(0, 2, 1);
  sherl::ModelInputs trimmed;
  trimmed.input_ids = padded.input_ids.narrow(1, 0, 3);
  trimmed.token_type_ids = padded.token_type_ids.narrow(1, 0, 3);
  trimmed.attention_mask = padded.attention_mask.narrow(1, 0, 3);
  auto a = sherl::compute_tiers(*backbone, padded, {3}).narrow(1, 0, 3);
  auto b = sherl::compute_tiers(*backbone, trimmed, {3});
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-5);
}

}  // namespace
