// The late route for every pooling kind, on a toy encoder with random weights: its last
// layer computes only the rows the pooling reads, and the result (and the gradient reaching
// the route's input) must equal running every layer in full and pooling afterwards.
#include <gtest/gtest.h>

#include <functional>

#include "lib/core/error.h"
#include "lib/model/layer_stack.h"
#include "sherl/method/late_route.h"

namespace sherl {
namespace {

constexpr int64_t kLayers = 3, kWidth = 16, kBatch = 3, kTokens = 7;

// A backbone of EncoderLayers alone (no embeddings: the late route never embeds), with the
// pooling and attention kinds under test.
class ToyEncoderImpl : public LayerStackBackboneImpl {
 public:
  ToyEncoderImpl(PoolingKind pooling, AttentionKind attention, bool pre_norm)
      : LayerStackBackboneImpl(BackboneScope{}), pooling_(pooling), attention_(attention) {
    EncoderConfig c;
    c.model_type = "toy";
    c.hidden_size = kWidth;
    c.num_layers = kLayers;
    c.num_heads = 2;
    c.intermediate_size = 32;
    add_layers(kLayers, encoder_layer_options(c, pre_norm, /*qkv_bias=*/true));
  }
  std::string model_type() const override { return "toy"; }
  int64_t hidden_size() const override { return kWidth; }
  bool is_text() const override { return true; }
  PoolingKind pooling() const override { return pooling_; }
  AttentionKind attention() const override { return attention_; }
  torch::Tensor embed(const ModelInputs&) override { throw std::logic_error("not used"); }
  torch::Tensor token_mask(const ModelInputs&) override { throw std::logic_error("not used"); }

 private:
  PoolingKind pooling_;
  AttentionKind attention_;
};

// Real tokens: 7, 4 and 2 of 7 (padding on the right).
torch::Tensor padded_mask() {
  auto lengths = torch::tensor({7, 4, 2}, torch::kInt64).view({kBatch, 1});
  return torch::arange(kTokens, torch::kInt64).view({1, kTokens}).lt(lengths).to(torch::kInt64);
}

struct Outputs {
  torch::Tensor pooled, input_grad;
};

// The late route over the last `late` layers, and the gradient of a fixed projection of its
// output with respect to its input.
Outputs through_route(const std::shared_ptr<ToyEncoderImpl>& toy, int64_t late, const torch::Tensor& hidden,
                      const torch::Tensor& mask, const torch::Tensor& positions = {}) {
  LateRoute route(toy, late);
  auto x = hidden.clone().requires_grad_(true);
  auto pooled = route.forward(x, mask, positions);
  (pooled * torch::linspace(-1, 1, kWidth)).sum().backward();
  return {pooled.detach(), x.grad()};
}

// Every late layer in full, then the pooled rows picked by hand: `pick` maps the last
// hidden states [B, T, d] to [B, d].
Outputs by_hand(const std::shared_ptr<ToyEncoderImpl>& toy, int64_t late, const torch::Tensor& hidden,
                const torch::Tensor& mask, const std::function<torch::Tensor(const torch::Tensor&)>& pick) {
  auto x = hidden.clone().requires_grad_(true);
  torch::Tensor h = x;
  LayerState state = toy->layer_state(mask, h);
  for (int64_t i = kLayers - late; i < kLayers; ++i) h = toy->layer(i, h, state, {});
  auto pooled = pick(h);
  (pooled * torch::linspace(-1, 1, kWidth)).sum().backward();
  return {pooled.detach(), x.grad()};
}

void expect_same(const Outputs& a, const Outputs& b) {
  ASSERT_EQ(a.pooled.sizes(), (std::vector<int64_t>{kBatch, kWidth}));
  EXPECT_LT((a.pooled - b.pooled).abs().max().item<double>(), 1e-5);
  EXPECT_LT((a.input_grad - b.input_grad).abs().max().item<double>(), 1e-5);
  EXPECT_GT(a.input_grad.abs().sum().item<double>(), 0);
}

torch::Tensor row_of_each(const torch::Tensor& h, std::vector<int64_t> rows) {
  return gather_rows(h, torch::tensor(rows, torch::kInt64).view({kBatch, 1})).select(1, 0);
}

class LateRoutePooling : public ::testing::TestWithParam<bool> {};  // pre-norm or post-norm layers

TEST_P(LateRoutePooling, FirstTokenReadsRowZero) {
  torch::manual_seed(1);
  auto toy = std::make_shared<ToyEncoderImpl>(PoolingKind::FirstToken, AttentionKind::Bidirectional, GetParam());
  auto hidden = torch::randn({kBatch, kTokens, kWidth});
  expect_same(through_route(toy, 2, hidden, padded_mask()),
              by_hand(toy, 2, hidden, padded_mask(), [](const torch::Tensor& h) { return h.select(1, 0); }));
}

TEST_P(LateRoutePooling, MeanEqualsTheFullLayerThenAMaskedMean) {
  torch::manual_seed(2);
  auto toy = std::make_shared<ToyEncoderImpl>(PoolingKind::Mean, AttentionKind::Bidirectional, GetParam());
  auto hidden = torch::randn({kBatch, kTokens, kWidth});
  auto mask = padded_mask();
  expect_same(through_route(toy, 2, hidden, mask), by_hand(toy, 2, hidden, mask, [&](const torch::Tensor& h) {
                auto w = mask.to(torch::kFloat32).unsqueeze(-1);
                return (h * w).sum(1) / w.sum(1);
              }));
  // Padding rows take no part: changing them changes nothing.
  auto changed = hidden.clone();
  changed.index_put_({2, torch::indexing::Slice(2, kTokens)}, 100.0);
  EXPECT_LT((through_route(toy, 2, changed, mask).pooled - through_route(toy, 2, hidden, mask).pooled).abs().max()
                .item<double>(), 1e-5);
}

TEST_P(LateRoutePooling, LastTokenReadsTheLastRealRowUnderCausalAttention) {
  torch::manual_seed(3);
  auto toy = std::make_shared<ToyEncoderImpl>(PoolingKind::LastToken, AttentionKind::Causal, GetParam());
  auto hidden = torch::randn({kBatch, kTokens, kWidth});
  auto mask = padded_mask();
  expect_same(through_route(toy, 2, hidden, mask),
              by_hand(toy, 2, hidden, mask, [](const torch::Tensor& h) { return row_of_each(h, {6, 3, 1}); }));
  // Causal: changing the last token changes nothing in the rows before it.
  auto later = hidden.clone();
  later.index_put_({0, 6}, 5.0);
  auto earlier_rows = [&](const torch::Tensor& h) {
    LayerState state = toy->layer_state(torch::ones({kBatch, kTokens}, torch::kInt64), h);
    return toy->layer(2, toy->layer(1, h, state, {}), state, OutputRows::first(6));
  };
  torch::NoGradGuard no_grad;
  EXPECT_LT((earlier_rows(later) - earlier_rows(hidden)).abs().max().item<double>(), 1e-6);
}

TEST_P(LateRoutePooling, EndOfTextReadsTheGivenPositions) {
  torch::manual_seed(4);
  auto toy = std::make_shared<ToyEncoderImpl>(PoolingKind::EndOfText, AttentionKind::Causal, GetParam());
  auto hidden = torch::randn({kBatch, kTokens, kWidth});
  auto mask = padded_mask();
  auto positions = torch::tensor({{4}, {3}, {0}}, torch::kInt64);
  expect_same(through_route(toy, 2, hidden, mask, positions),
              by_hand(toy, 2, hidden, mask, [](const torch::Tensor& h) { return row_of_each(h, {4, 3, 0}); }));
  // Without the positions (no input ids to find them from) it is an error, not a guess.
  LateRoute route(toy, 2);
  EXPECT_THROW(route.forward(hidden, mask), Error);
}

INSTANTIATE_TEST_SUITE_P(Norms, LateRoutePooling, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "pre_norm" : "post_norm"; });

}  // namespace
}  // namespace sherl
