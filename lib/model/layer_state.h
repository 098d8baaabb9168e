#pragma once
// What a backbone's layers take besides their input: the rows to compute, and the state
// that every layer of one forward pass shares.
#include <torch/torch.h>

#include <cstdint>

namespace sherl {

// Which rows of a layer's output are computed (every row still attends to every key it may
// see): all of them, the first `leading` ones (contiguous: the cheapest), or the rows that
// `positions` [B, P] int64 names for each example.
struct OutputRows {
  int64_t leading = 0;
  torch::Tensor positions;
  bool all() const { return leading <= 0 && !positions.defined(); }
  static OutputRows first(int64_t n) { return {n, {}}; }
  static OutputRows at(torch::Tensor positions) { return {0, std::move(positions)}; }
};

// What the layers of one forward pass share, made once per batch by layer_state(): the
// token mask and the additive attention bias that every layer adds to its scores (padding,
// the causal mask, and where a family has one its position bias: a relative position bias
// computed once and shared by all layers lives here, [B or 1, H, T, T]).
struct LayerState {
  torch::Tensor mask;            // [B, T] int64, 1 = token
  torch::Tensor attention_bias;  // [B, 1, 1, T] (per key) or [B, 1 or H, T, T] (per query and key)
  // Rotary position embedding (Llama-style decoders): the cosine and sine of each position's
  // angles, [T, head_dim], which every layer applies to its queries and keys; undefined for
  // the other families.
  torch::Tensor rotary_cos, rotary_sin;
};

}  // namespace sherl
