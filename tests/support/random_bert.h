#pragma once
// A BERT with random weights in the Hugging Face layout (config.json + model.safetensors),
// for tests and benchmarks that need a text backbone of a given size without a download.
#include <cstdint>
#include <string>
#include <vector>

namespace sherl::test {

struct BertSize {
  int64_t layers = 2, hidden = 64, heads = 4, intermediate = 128, vocab = 1200;
};

// Post-LayerNorm, exact gelu; dense weights N(0, 1/fan_in), so that attention is not
// uniform, and LayerNorm gains near 1. The same `seed` writes the same weights.
void write_random_bert(const std::string& dir, const BertSize& size, uint64_t seed = 0);

// `count` random examples of `tokens` token ids in [min(1000, vocab - 1), vocab), [CLS] first
// and [SEP] last, as JSON Lines with an `input_ids` field and a label in 0..labels-1.
std::string random_token_jsonl(int64_t count, int64_t tokens, int64_t vocab, int64_t labels, uint64_t seed);

// One row of random ids as above.
std::vector<int64_t> random_token_ids(uint64_t& state, int64_t tokens, int64_t vocab);

}  // namespace sherl::test
