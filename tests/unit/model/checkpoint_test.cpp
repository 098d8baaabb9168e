// Model directories: prefixes, shards, identity, and every way a checkpoint or config.json
// can be wrong, each a sherl::Error naming the file and the tensor or key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/core/json.h"
#include "lib/model/backbone.h"
#include "lib/model/safetensors.h"

namespace fs = std::filesystem;
using sherl::json;

namespace {

json tiny_bert_config() {
  return {{"model_type", "bert"}, {"hidden_size", 16},          {"num_hidden_layers", 2},
          {"num_attention_heads", 2}, {"intermediate_size", 24}, {"vocab_size", 20},
          {"max_position_embeddings", 12}, {"type_vocab_size", 2}, {"hidden_act", "gelu"}};
}

// Random weights under Hugging Face BertModel names, shaped as `config` implies.
std::map<std::string, torch::Tensor> tiny_bert_weights(const json& c, const std::string& prefix = "") {
  const int64_t d = c["hidden_size"], ff = c["intermediate_size"];
  std::map<std::string, torch::Tensor> w;
  auto put = [&](const std::string& name, std::vector<int64_t> shape) { w[prefix + name] = torch::randn(shape); };
  put("embeddings.word_embeddings.weight", {c["vocab_size"].get<int64_t>(), d});
  put("embeddings.position_embeddings.weight", {c["max_position_embeddings"].get<int64_t>(), d});
  put("embeddings.token_type_embeddings.weight", {c["type_vocab_size"].get<int64_t>(), d});
  put("embeddings.LayerNorm.weight", {d});
  put("embeddings.LayerNorm.bias", {d});
  for (int64_t i = 0; i < c["num_hidden_layers"].get<int64_t>(); ++i) {
    std::string p = "encoder.layer." + std::to_string(i) + ".";
    for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      put(p + n + ".weight", {d, d});
      put(p + n + ".bias", {d});
    }
    put(p + "intermediate.dense.weight", {ff, d});
    put(p + "intermediate.dense.bias", {ff});
    put(p + "output.dense.weight", {d, ff});
    put(p + "output.dense.bias", {d});
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      put(p + n + ".weight", {d});
      put(p + n + ".bias", {d});
    }
  }
  return w;
}

class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sherl-ckpt-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_model(const json& config, const std::map<std::string, torch::Tensor>& weights) {
    std::ofstream(dir_ / "config.json") << config.dump(2);
    sherl::write_safetensors((dir_ / "model.safetensors").string(), weights);
    return dir_.string();
  }

  std::string config_path() const { return (dir_ / "config.json").string(); }
  std::string weights_path() const { return (dir_ / "model.safetensors").string(); }

  // load_backbone must throw one line containing every piece of `parts`.
  void expect_load_error(const std::vector<std::string>& parts) {
    try {
      sherl::load_backbone(dir_.string());
      FAIL() << "no error; expected " << parts.back();
    } catch (const sherl::Error& e) {
      std::string msg = e.what();
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }

  // Writes a valid model whose config has `key` set to `value` (or removed when null).
  void expect_config_error(const std::string& key, const json& value, const std::string& problem) {
    json c = tiny_bert_config();
    write_model(c, tiny_bert_weights(c));
    if (value.is_null())
      c.erase(key);
    else
      c[key] = value;
    std::ofstream(dir_ / "config.json") << c.dump(2);
    expect_load_error({config_path() + ": key '" + key + "': " + problem});
  }

  fs::path dir_;
};

sherl::ModelInputs tiny_text_inputs() {
  sherl::ModelInputs in;
  in.input_ids = torch::tensor({3, 7, 1, 9, 0, 0}, torch::kInt64).view({2, 3});
  in.token_type_ids = torch::tensor({0, 1, 1, 0, 0, 0}, torch::kInt64).view({2, 3});
  in.attention_mask = torch::tensor({1, 1, 1, 1, 0, 0}, torch::kInt64).view({2, 3});
  return in;
}

TEST_F(ModelDir, PrefixedAndBareNamesLoadTheSameModel) {
  json c = tiny_bert_config();
  auto bare = tiny_bert_weights(c);
  std::map<std::string, torch::Tensor> prefixed;
  for (const auto& [k, v] : bare) prefixed["bert." + k] = v;
  prefixed["classifier.weight"] = torch::randn({3, 16});  // a task head: ignored
  prefixed["bert.pooler.dense.weight"] = torch::randn({16, 16});
  write_model(c, bare);
  auto in = tiny_text_inputs();
  auto a = sherl::compute_tiers(*sherl::load_backbone(dir_.string()), in, {0, 1, 2});
  write_model(c, prefixed);
  auto b = sherl::compute_tiers(*sherl::load_backbone(dir_.string()), in, {0, 1, 2});
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3, 3, 16}));
}

TEST_F(ModelDir, ShardedHalfPrecisionCheckpointAndIdentity) {
  json c = tiny_bert_config();
  auto w = tiny_bert_weights(c);
  write_model(c, w);
  auto in = tiny_text_inputs();
  // Reference: the F32 model with weights rounded through F16, as the sharded copy stores them.
  std::map<std::string, torch::Tensor> half, part1, part2;
  for (const auto& [k, v] : w) half[k] = v.to(torch::kFloat16);
  std::map<std::string, torch::Tensor> rounded;
  for (const auto& [k, v] : half) rounded[k] = v.to(torch::kFloat32);
  write_model(c, rounded);
  auto expected = sherl::compute_tiers(*sherl::load_backbone(dir_.string()), in, {2});
  fs::remove(dir_ / "model.safetensors");

  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  int i = 0;
  for (const auto& [k, v] : half) {
    bool first = i++ % 2 == 0;
    (first ? part1 : part2)[k] = v;
    index["weight_map"][k] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  sherl::write_safetensors((dir_ / "model-00001-of-00002.safetensors").string(), part1);
  sherl::write_safetensors((dir_ / "model-00002-of-00002.safetensors").string(), part2);
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump(2);
  auto got = sherl::compute_tiers(*sherl::load_backbone(dir_.string()), in, {2});
  EXPECT_TRUE(torch::allclose(got, expected, 0, 1e-6));

  auto id = sherl::backbone_identity(dir_.string());
  EXPECT_EQ(id.model_type, "bert");
  EXPECT_EQ(id.hidden_size, 16);
  EXPECT_EQ(id.num_layers, 2);
  EXPECT_EQ(id.config_sha256, sherl::sha256_file(config_path()));
  EXPECT_EQ(id.weights_sha256, sherl::sha256_hex(sherl::read_file((dir_ / "model-00001-of-00002.safetensors").string()) +
                                                 sherl::read_file((dir_ / "model-00002-of-00002.safetensors").string())));

  // An index that places a tensor in the wrong shard is caught.
  std::string moved = index["weight_map"].begin().key();
  index["weight_map"][moved] = "model-00002-of-00002.safetensors";
  std::ofstream(dir_ / "model.safetensors.index.json") << index.dump(2);
  expect_load_error({(dir_ / "model-00002-of-00002.safetensors").string() + ": tensor '" + moved +
                     "': listed in model.safetensors.index.json but not in this file"});
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"metadata": {}})";
  expect_load_error({(dir_ / "model.safetensors.index.json").string() + ": key 'weight_map'"});
}

TEST_F(ModelDir, MissingTensor) {
  json c = tiny_bert_config();
  auto w = tiny_bert_weights(c, "bert.");
  w.erase("bert.encoder.layer.1.attention.self.key.weight");
  write_model(c, w);
  expect_load_error({weights_path() + ": tensor 'encoder.layer.1.attention.self.key.weight': missing"});
}

TEST_F(ModelDir, TensorOfWrongShape) {
  json c = tiny_bert_config();
  auto w = tiny_bert_weights(c);
  w["encoder.layer.0.intermediate.dense.weight"] = torch::randn({24, 8});
  write_model(c, w);
  expect_load_error({weights_path() + ": tensor 'encoder.layer.0.intermediate.dense.weight': shape [24, 8] "
                                      "where config.json implies [24, 16]"});
}

TEST_F(ModelDir, IntegerWeight) {
  json c = tiny_bert_config();
  auto w = tiny_bert_weights(c);
  w["embeddings.LayerNorm.bias"] = torch::zeros({16}, torch::kInt64);
  write_model(c, w);
  expect_load_error({weights_path() + ": tensor 'embeddings.LayerNorm.bias': dtype Long is not a floating type"});
}

TEST_F(ModelDir, NoWeights) {
  std::ofstream(dir_ / "config.json") << tiny_bert_config().dump();
  expect_load_error({dir_.string() + ": no model.safetensors or model.safetensors.index.json"});
}

TEST_F(ModelDir, CorruptWeightFile) {
  json c = tiny_bert_config();
  write_model(c, tiny_bert_weights(c));
  uint64_t header_len = 0;
  std::ifstream(dir_ / "model.safetensors", std::ios::binary).read(reinterpret_cast<char*>(&header_len), 8);
  fs::resize_file(dir_ / "model.safetensors", 8 + header_len + 10);  // the header survives, the data does not
  expect_load_error({weights_path() + ": tensor '", "run past the data buffer"});
}

TEST_F(ModelDir, ConfigKeys) {
  expect_config_error("hidden_size", nullptr, "missing");
  expect_config_error("num_hidden_layers", "two", "expected an integer, found \"two\"");
  expect_config_error("num_attention_heads", 3, "3 does not divide hidden_size 16");
  expect_config_error("intermediate_size", 0, "must be positive");
  expect_config_error("vocab_size", nullptr, "missing");
  expect_config_error("hidden_act", "swish", "'swish' is not supported");
  expect_config_error("position_embedding_type", "relative_key", "'relative_key' is not supported");
  expect_config_error("is_decoder", true, "decoders are not supported");
  expect_config_error("layer_norm_eps", "small", "expected a number");
  expect_config_error("model_type", "gpt2", "'gpt2' is not supported");
  expect_config_error("model_type", nullptr, "missing");
}

TEST_F(ModelDir, MalformedConfigJson) {
  json c = tiny_bert_config();
  write_model(c, tiny_bert_weights(c));
  std::ofstream(dir_ / "config.json") << R"({"model_type": "bert",)";
  expect_load_error({config_path() + ": not valid JSON"});
  // Deep nesting is refused while parsing: no stack overflow, no memory blow-up.
  std::ofstream(dir_ / "config.json") << R"({"model_type": "bert", "hidden_size": )" << std::string(100000, '[')
                                      << std::string(100000, ']') << "}";
  expect_load_error({config_path() + ": not valid JSON: nested deeper than 64 levels"});
}

TEST_F(ModelDir, VitConfigKeys) {
  std::ofstream(dir_ / "config.json") << json{{"model_type", "vit"},       {"hidden_size", 8},
                                              {"num_hidden_layers", 1},    {"num_attention_heads", 2},
                                              {"intermediate_size", 16},   {"patch_size", 4}}
                                             .dump();
  expect_load_error({config_path() + ": key 'image_size': missing"});
}

TEST_F(ModelDir, TextInputsOutsideTheModel) {
  json c = tiny_bert_config();
  write_model(c, tiny_bert_weights(c));
  auto bert = sherl::load_backbone(dir_.string());
  auto in = tiny_text_inputs();
  in.input_ids[0][1] = 20;  // vocab_size is 20
  EXPECT_THROW(bert->embed(in), sherl::Error);
  in = tiny_text_inputs();
  in.token_type_ids[0][1] = 2;
  EXPECT_THROW(bert->embed(in), sherl::Error);
  in = tiny_text_inputs();
  in.input_ids = torch::ones({1, 13}, torch::kInt64);  // max_position_embeddings is 12
  EXPECT_THROW(bert->embed(in), sherl::Error);
  EXPECT_THROW(sherl::compute_tiers(*bert, sherl::ModelInputs{}, {1}), sherl::Error);
  EXPECT_THROW(bert->token_mask(sherl::ModelInputs{}), sherl::Error);
  // Without token types and mask: zeros and all-ones, as Hugging Face defaults them.
  in = tiny_text_inputs();
  auto full = bert->embed(in);
  in.token_type_ids = torch::Tensor();
  in.attention_mask = torch::Tensor();
  EXPECT_EQ(bert->token_mask(in).sum().item<int64_t>(), 6);
  EXPECT_EQ(bert->embed(in).sizes(), full.sizes());
}

}  // namespace
