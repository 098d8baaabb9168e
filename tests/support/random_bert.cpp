#include "tests/support/random_bert.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "lib/core/json.h"
#include "lib/model/safetensors.h"

namespace sherl::test {

void write_random_bert(const std::string& dir, const BertSize& m, uint64_t seed) {
  std::filesystem::create_directories(dir);
  json config = {{"architectures", {"BertModel"}}, {"model_type", "bert"}, {"hidden_size", m.hidden},
                 {"num_hidden_layers", m.layers}, {"num_attention_heads", m.heads},
                 {"intermediate_size", m.intermediate}, {"hidden_act", "gelu"}, {"vocab_size", m.vocab},
                 {"max_position_embeddings", 512}, {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12},
                 {"pad_token_id", 0}, {"position_embedding_type", "absolute"}};
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";
  torch::manual_seed(seed);
  const int64_t d = m.hidden;
  std::map<std::string, torch::Tensor> t;
  auto dense = [&](const std::string& name, int64_t out, int64_t in) {
    t[name + ".weight"] = torch::randn({out, in}) / std::sqrt(static_cast<double>(in));
    t[name + ".bias"] = 0.02 * torch::randn({out});
  };
  auto norm = [&](const std::string& name) {
    t[name + ".weight"] = 1 + 0.1 * torch::randn({d});
    t[name + ".bias"] = 0.02 * torch::randn({d});
  };
  t["embeddings.word_embeddings.weight"] = 0.02 * torch::randn({m.vocab, d});
  t["embeddings.position_embeddings.weight"] = 0.02 * torch::randn({512, d});
  t["embeddings.token_type_embeddings.weight"] = 0.02 * torch::randn({2, d});
  norm("embeddings.LayerNorm");
  for (int64_t i = 0; i < m.layers; ++i) {
    std::string p = "encoder.layer." + std::to_string(i) + ".";
    for (const char* part : {"query", "key", "value"}) dense(p + "attention.self." + part, d, d);
    dense(p + "attention.output.dense", d, d);
    norm(p + "attention.output.LayerNorm");
    dense(p + "intermediate.dense", m.intermediate, d);
    dense(p + "output.dense", d, m.intermediate);
    norm(p + "output.LayerNorm");
  }
  write_safetensors(dir + "/model.safetensors", t, {{"format", "pt"}});
}

std::vector<int64_t> random_token_ids(uint64_t& state, int64_t tokens, int64_t vocab) {
  std::mt19937_64 rng(state++);
  std::uniform_int_distribution<int64_t> pick(std::min<int64_t>(1000, vocab - 1), vocab - 1);
  std::vector<int64_t> ids(static_cast<size_t>(tokens));
  for (auto& id : ids) id = pick(rng);
  ids.front() = std::min<int64_t>(101, vocab - 1);
  ids.back() = std::min<int64_t>(102, vocab - 1);
  return ids;
}

std::string random_token_jsonl(int64_t count, int64_t tokens, int64_t vocab, int64_t labels, uint64_t seed) {
  std::string out;
  for (int64_t i = 0; i < count; ++i) {
    // lengths vary, so that batches hold padding
    int64_t n = std::max<int64_t>(2, tokens - (i * 7) % std::max<int64_t>(1, tokens / 2));
    out += json{{"input_ids", random_token_ids(seed, n, vocab)}, {"label", i % labels}}.dump() + "\n";
  }
  return out;
}

}  // namespace sherl::test
