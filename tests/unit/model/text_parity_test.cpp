// BERT / RoBERTa / T5 / Llama-style / CLIP parity against independent torch.nn
// implementations:
// tests/python/model_reference.py writes small random models (F32 with the 'bert.' prefix
// and a task head; F16 sharded with an index; BF16 without prefix; T5 1.0 and a full T5 1.1
// checkpoint; Llama with grouped-query attention, Qwen2, Mistral; CLIP's towers: see
// there) and every tier and the pooled output on a padded batch (images for the vision
// tower), which the loaded backbones must reproduce.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/model/backbone.h"
#include "lib/model/encoder_layer.h"
#include "lib/model/safetensors.h"
#include "lib/model/t5.h"
#include "tests/support/python_reference.h"

namespace fs = std::filesystem;

namespace {

class TextParity : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { dir_ = new fs::path(sherl::test::python_reference("model_reference.py")); }
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
  // clip-text is a whole CLIPModel directory: its text tower is asked for.
  const sherl::Tower tower = name == "clip-text" ? sherl::Tower::Text : sherl::Tower::Whole;
  auto backbone = sherl::load_backbone((*dir_ / name).string(), torch::kCPU, tower);
  const int64_t L = backbone->num_layers();
  ASSERT_EQ(L, 3);
  EXPECT_EQ(backbone->hidden_size(), 32);
  const bool image = ref.contains("pixel_values");  // the vision towers
  EXPECT_EQ(backbone->is_text(), !image);

  sherl::ModelInputs in;
  if (image) {
    in.pixel_values = ref.get("pixel_values");
  } else {
    in.input_ids = ref.get("input_ids");
    in.token_type_ids = ref.get("token_type_ids");
    in.attention_mask = ref.get("attention_mask");
  }
  auto mask = backbone->token_mask(in);
  if (!image) {
    ASSERT_TRUE(torch::equal(mask, in.attention_mask));
    ASSERT_LT(mask.sum().item<int64_t>(), mask.numel()) << "the batch must contain padding";
  }

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
  // CLIP's towers carry their projection to the joint space (the others have none).
  const bool projected = name.rfind("clip", 0) == 0;
  ASSERT_EQ(ref.contains("embeds"), projected);
  EXPECT_EQ(backbone->projection_dim(), projected ? 16 : 0);
  if (projected) {
    double embed_diff = (backbone->project(pooled) - ref.get("embeds")).abs().max().item<double>();
    std::printf("%s embeds: max |diff| %.3g\n", name.c_str(), embed_diff);
    EXPECT_LT(embed_diff, 1e-4);
  } else {
    EXPECT_THROW(backbone->project(pooled), sherl::Error);
  }
  // A tier has real magnitude: a match is not a match of zeros.
  EXPECT_GT(ref.get("tier_3").abs().max().item<double>(), 0.5);
}

// Loaded for its late route only (BackboneScope), a backbone holds its last K layers and
// pooling, which give the reference's values; the embedding stage and early layers refuse to
// run, and hold no memory.
TEST_P(TextParity, LateScopeLoadsOnlyTheLateRoute) {
  const std::string name = GetParam();
  sherl::SafetensorsFile ref((*dir_ / (name + "-reference.safetensors")).string());
  const sherl::Tower tower = name == "clip-text" ? sherl::Tower::Text : sherl::Tower::Whole;
  auto whole = sherl::load_backbone((*dir_ / name).string(), torch::kCPU, tower);
  auto late = sherl::load_backbone((*dir_ / name).string(), torch::kCPU, tower, sherl::BackboneScope{2});
  const bool image = ref.contains("pixel_values");
  torch::Tensor mask = image ? torch::ones({ref.get("tier_1").size(0), ref.get("tier_1").size(1)}, torch::kInt64)
                             : ref.get("attention_mask");
  torch::NoGradGuard no_grad;
  torch::Tensor h = ref.get("tier_1");
  const sherl::LayerState state = late->layer_state(mask, h);
  for (int64_t i = 1; i < 3; ++i) h = late->layer(i, h, state);
  EXPECT_LT(max_diff_on_tokens(h, ref.get("tier_3"), mask), 1e-4);
  EXPECT_LT((late->pool(h, state) - ref.get("pool")).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(late->projection_dim(), whole->projection_dim());
  EXPECT_THROW(late->layer(0, ref.get("tier_0"), state), sherl::Error);
  sherl::ModelInputs in;
  if (image) in.pixel_values = ref.get("pixel_values");
  else in.input_ids = ref.get("input_ids"), in.attention_mask = mask;
  if (!image) EXPECT_THROW(late->embed(in), sherl::Error);  // ViT keeps its small embedding stage
  auto count = [](sherl::BackboneImpl& b) {
    int64_t n = 0;
    for (const auto& p : b.parameters()) n += p.numel();
    return n;
  };
  const int64_t layer = [&] {
    int64_t n = 0;
    for (const auto& p : whole->layer_parameters(0)) n += p.numel();
    return n;
  }();
  EXPECT_LE(count(*late), count(*whole) - layer) << "layer 0 was built";
}

// Held in bf16 (--precision bf16), a backbone is built a layer at a time in bf16 and holds the
// same weights as one loaded in float32 and converted afterwards: every parameter alike.
TEST_P(TextParity, Bf16ScopeHoldsTheConvertedWeights) {
  const std::string name = GetParam();
  const sherl::Tower tower = name == "clip-text" ? sherl::Tower::Text : sherl::Tower::Whole;
  auto converted = sherl::load_backbone((*dir_ / name).string(), torch::kCPU, tower);
  converted->to(torch::kBFloat16);
  auto direct = sherl::load_backbone((*dir_ / name).string(), torch::kCPU, tower,
                                     sherl::BackboneScope{0, torch::kBFloat16});
  const auto a = converted->named_parameters(), b = direct->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    const torch::Tensor& other = b[item.key()];
    EXPECT_EQ(other.scalar_type(), torch::kBFloat16) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), other)) << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TextParity,
                         ::testing::Values("bert", "roberta", "bert-relu", "t5", "t5-gated", "llama", "qwen2", "mistral",
                                           "clip-vision", "clip-text"),
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

// The decoders' late route computes only the pooled rows (rotary positions, grouped-query
// attention, causal bias per query): the rows at given positions, and the leading rows, equal
// those of the full layer.
TEST_F(TextParity, DecoderLayerAtPositionsMatchesFullLayer) {
  for (const char* name : {"llama", "qwen2"}) {
    SCOPED_TRACE(name);
    sherl::SafetensorsFile ref((*dir_ / (std::string(name) + "-reference.safetensors")).string());
    auto backbone = sherl::load_backbone((*dir_ / name).string());
    torch::NoGradGuard no_grad;
    auto hidden = ref.get("tier_2");
    auto state = backbone->layer_state(ref.get("attention_mask"), hidden);
    ASSERT_TRUE(state.rotary_cos.defined());
    auto full = backbone->layer(2, hidden, state);
    auto last = backbone->pooled_rows(ref.get("attention_mask")).positions;  // the last real tokens
    ASSERT_TRUE(last.defined());
    auto at = backbone->layer(2, hidden, state, sherl::OutputRows::at(last));
    EXPECT_LT((at - sherl::gather_rows(full, last)).abs().max().item<double>(), 1e-5);
    auto leading = backbone->layer(2, hidden, state, sherl::OutputRows::first(2));
    EXPECT_LT((leading - full.narrow(1, 0, 2)).abs().max().item<double>(), 1e-5);
  }
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

namespace {

// A copy of a reference model with one config.json key changed (nullptr: removed).
fs::path model_with(const fs::path& reference, const fs::path& dir, const std::string& key, const sherl::json& value) {
  fs::remove_all(dir);
  fs::copy(reference, dir);
  sherl::json config = sherl::read_json_file((dir / "config.json").string());
  if (value.is_null()) config.erase(key);
  else config[key] = value;
  std::ofstream((dir / "config.json").string()) << config.dump();
  return dir;
}

TEST_F(TextParity, T5IdentityAndRefusedVariantsNameTheKey) {
  const fs::path reference = *dir_ / "t5-gated";
  sherl::BackboneIdentity id = sherl::backbone_identity(reference.string());
  EXPECT_EQ(id.model_type, "t5");
  EXPECT_EQ(id.hidden_size, 32);  // d_model
  EXPECT_EQ(id.num_layers, 3);    // num_layers
  const fs::path dir = fs::temp_directory_path() / ("sherl-t5-variant-" + std::to_string(::getpid()));
  struct Case {
    std::string key;
    sherl::json value;
    std::string message;
  };
  auto expect_refused = [&](const fs::path& model, const Case& c) {
    model_with(model, dir, c.key, c.value);
    try {
      sherl::load_backbone(dir.string());
      ADD_FAILURE() << c.key << ": loaded";
    } catch (const sherl::Error& e) {
      EXPECT_NE(std::string(e.what()).find((dir / "config.json").string() + ": key '" + c.key + "': " + c.message),
                std::string::npos)
          << e.what();
    }
  };
  const fs::path llama = *dir_ / "llama";
  for (const Case& c : {Case{"feed_forward_proj", "gated-silu", "'gated-silu' is not supported (relu, gated-gelu)"},
                        Case{"model_type", "umt5", "'umt5' (a relative position bias in every layer) is not supported"},
                        Case{"relative_attention_num_buckets", 2, "must be at least 4"},
                        Case{"d_model", nullptr, "missing"}, Case{"d_ff", 0, "must be positive"},
                        Case{"pad_token_id", 1000000, "1000000 is outside the vocabulary of 50"},
                        Case{"relative_attention_num_buckets", 100000000, "100000000 implies"}})
    expect_refused(reference, c);
  for (const Case& c : {Case{"rope_scaling", sherl::json{{"rope_type", "llama3"}, {"factor", 8.0}},
                             "'llama3' is not supported (linear)"},
                        Case{"rope_scaling", sherl::json{{"type", "linear"}}, "a linear scaling needs a factor of at least 1"},
                        Case{"hidden_act", "gelu", "'gelu' is not supported (silu)"},
                        Case{"num_key_value_heads", 3, "3 does not divide num_attention_heads 4"},
                        Case{"head_dim", 7, "must be positive and even"},
                        Case{"rope_scaling", sherl::json{{"rope_type", "dynamic"}, {"type", "linear"}, {"factor", 2.0}},
                             "'dynamic' is not supported (linear)"}})
    expect_refused(llama, c);
  // A decoder has no position table: max_position_embeddings implies no weights.
  model_with(llama, dir, "max_position_embeddings", 1 << 20);
  EXPECT_NO_THROW(sherl::load_backbone(dir.string()));
  expect_refused(*dir_ / "clip-vision",
                 {"model_type", "clip", "'clip' (a CLIPModel) holds a text and a vision tower: choose one with --tower"});
  expect_refused(*dir_ / "clip-vision", {"hidden_act", "swish", "'swish' is not supported"});
  fs::remove_all(dir);
  // T5 has no token types: a pair given BERT's way is refused, not silently read as one text.
  auto t5 = sherl::load_backbone(reference.string());
  sherl::SafetensorsFile ref((*dir_ / "t5-gated-reference.safetensors").string());
  sherl::ModelInputs in;
  in.input_ids = ref.get("input_ids");
  in.token_type_ids = torch::ones_like(in.input_ids);
  EXPECT_THROW(t5->embed(in), sherl::Error);
}

// A CLIPModel directory holds two towers: each is a backbone of its own model_type (so that
// shards and adapters name their tower), the whole is refused, and a missing tower is named.
TEST_F(TextParity, ClipModelTowersAreBackbonesOfTheirOwn) {
  const fs::path clip = *dir_ / "clip-text";
  const sherl::BackboneIdentity text = sherl::backbone_identity(clip.string(), sherl::Tower::Text);
  const sherl::BackboneIdentity vision = sherl::backbone_identity(clip.string(), sherl::Tower::Vision);
  EXPECT_EQ(text.model_type, "clip_text_model");
  EXPECT_EQ(vision.model_type, "clip_vision_model");
  EXPECT_EQ(sherl::tower_of(text.model_type), sherl::Tower::Text);
  EXPECT_EQ(text.config_sha256, vision.config_sha256);
  EXPECT_NE(text, vision);
  auto image = sherl::load_backbone(clip.string(), torch::kCPU, sherl::Tower::Vision);
  EXPECT_FALSE(image->is_text());
  EXPECT_EQ(image->num_layers(), 3);
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const sherl::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string config = (clip / "config.json").string();
  EXPECT_EQ(message([&] { sherl::load_backbone(clip.string()); }),
            config + ": key 'model_type': 'clip' (a CLIPModel) holds a text and a vision tower: choose one with "
                     "--tower text|vision");
  EXPECT_EQ(message([&] { sherl::backbone_identity((*dir_ / "clip-vision").string(), sherl::Tower::Text); }),
            (*dir_ / "clip-vision" / "config.json").string() + ": key 'model_type': 'clip_vision_model' has no text tower");
  EXPECT_EQ(image->projection_dim(), 16);  // visual_projection, beside the text tower's
  const fs::path dir = fs::temp_directory_path() / ("sherl-clip-variant-" + std::to_string(::getpid()));
  model_with(clip, dir, "vision_config", nullptr);
  EXPECT_EQ(message([&] { sherl::load_backbone(dir.string(), torch::kCPU, sherl::Tower::Vision); }),
            (dir / "config.json").string() + ": key 'vision_config': missing: this CLIP directory has no vision tower");
  // A projection that does not read the tower's width is refused, naming the tensor.
  fs::remove_all(dir);
  fs::copy(clip, dir);
  {
    sherl::SafetensorsFile weights((clip / "model.safetensors").string());
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& name : weights.names()) tensors[name] = weights.get(name).clone();
    tensors["text_projection.weight"] = torch::zeros({16, 31});
    sherl::write_safetensors((dir / "model.safetensors").string(), tensors);
  }
  EXPECT_EQ(message([&] { sherl::load_backbone(dir.string(), torch::kCPU, sherl::Tower::Text); }),
            (dir / "model.safetensors").string() +
                ": tensor 'text_projection.weight': shape [16, 31] where config.json implies [16, 32]");
  sherl::json text_config = sherl::read_json_file(config)["text_config"];
  text_config["hidden_act"] = "swish";
  model_with(clip, dir, "text_config", text_config);
  EXPECT_NE(message([&] { sherl::load_backbone(dir.string(), torch::kCPU, sherl::Tower::Text); })
                .find((dir / "config.json").string() + " (text_config): key 'hidden_act': 'swish' is not supported"),
            std::string::npos);
  fs::remove_all(dir);
}

// T5's buckets by hand for 32 buckets and distance 128 (Hugging Face's defaults): keys before
// the query take buckets 0..15, after it 16..31; distances below 8 are exact, then buckets
// widen logarithmically up to 128, beyond which the last is kept.
TEST(T5, RelativePositionBuckets) {
  auto bucket = [](int64_t relative) {
    return sherl::t5_relative_position_bucket(torch::tensor({relative}), 32, 128).item<int64_t>();
  };
  EXPECT_EQ(bucket(0), 0);
  EXPECT_EQ(bucket(-1), 1);
  EXPECT_EQ(bucket(-7), 7);
  EXPECT_EQ(bucket(1), 17);
  EXPECT_EQ(bucket(7), 23);
  EXPECT_EQ(bucket(-8), 8);     // 8 + floor(log(1) ...) = 8
  EXPECT_EQ(bucket(-16), 10);   // 8 + floor(log(2) / log(16) * 8) = 8 + 2
  EXPECT_EQ(bucket(-127), 15);  // 8 + floor(log(15.875) / log(16) * 8) = 8 + 7
  EXPECT_EQ(bucket(-1000), 15);
  EXPECT_EQ(bucket(1000), 31);
}

}  // namespace
