// The bundled ViT must reproduce golden.json on its own: the test decodes the gzip IDX
// test images itself (zlib), so the model area is verified without the input library.
#include <gtest/gtest.h>
#include <zlib.h>

#include "lib/core/error.h"
#include "lib/model/backbone.h"
#include "tests/unit/model/vit_golden.h"

namespace {

std::vector<uint8_t> read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  if (n < 0) throw std::runtime_error("cannot decompress " + path);
  return out;
}

struct GoldenImages {
  torch::Tensor pixel_values;  // [N, 1, 28, 28]
  std::vector<int64_t> index, label, u8_sum;
};

// The first n test images (file order) whose label is 0..4, preprocessed as the model card
// says: float32((u8 / 255 - 0.5) / 0.5) computed in float64.
GoldenImages first_images_with_label_below_5(int64_t n) {
  auto images = read_gzip(sherl::test::fmnist_dir() + "/t10k-images-idx3-ubyte.gz");
  auto labels = read_gzip(sherl::test::fmnist_dir() + "/t10k-labels-idx1-ubyte.gz");
  const size_t pixels = 28 * 28;
  GoldenImages g;
  std::vector<torch::Tensor> picked;
  for (size_t i = 0; 8 + i < labels.size() && static_cast<int64_t>(picked.size()) < n; ++i) {
    if (labels[8 + i] > 4) continue;
    const uint8_t* px = images.data() + 16 + i * pixels;
    auto u8 = torch::from_blob(const_cast<uint8_t*>(px), {1, 28, 28}, torch::kUInt8).to(torch::kFloat64);
    picked.push_back(((u8 / 255.0 - 0.5) / 0.5).to(torch::kFloat32));
    g.index.push_back(static_cast<int64_t>(i));
    g.label.push_back(labels[8 + i]);
    g.u8_sum.push_back(u8.sum().item<int64_t>());
  }
  g.pixel_values = torch::stack(picked);
  return g;
}

}  // namespace

TEST(VitGolden, ReproducesGoldenJson) {
  auto golden = sherl::test::read_vit_golden();
  const int64_t n = static_cast<int64_t>(golden.at("samples").size());
  ASSERT_EQ(n, 8);
  auto images = first_images_with_label_below_5(n);
  for (int64_t i = 0; i < n; ++i) {  // the same images as the golden file, decoded the same way
    const auto& s = golden["samples"][i];
    EXPECT_EQ(images.index[i], s["t10k_index"].get<int64_t>());
    EXPECT_EQ(images.label[i], s["label"].get<int64_t>());
    EXPECT_EQ(images.u8_sum[i], s["pixel_u8_sum"].get<int64_t>());
  }
  auto vit = sherl::load_backbone(sherl::test::vit_model_dir());
  auto d = sherl::test::compare_vit_golden(*vit, images.pixel_values, golden);
  std::printf("vit golden: max |diff| norms %.3g (rel %.3g), cls first8 %.3g, logits %.3g\n", d.norms_abs,
              d.norms_rel, d.first8, d.logits);
  EXPECT_LT(d.first8, 1e-4);
  EXPECT_LT(d.logits, 1e-4);
  EXPECT_LT(d.norms_abs, 1e-4);
  EXPECT_EQ(d.predictions_matching, n);
}

TEST(VitGolden, IdentityAndStructure) {
  auto vit = sherl::load_backbone(sherl::test::vit_model_dir());
  EXPECT_EQ(vit->model_type(), "vit");
  EXPECT_EQ(vit->num_layers(), 6);
  EXPECT_EQ(vit->hidden_size(), 128);
  EXPECT_FALSE(vit->is_text());
  for (const auto& p : vit->parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_FALSE(vit->is_training());
  // 1,198,592 backbone parameters per the model card (the classifier head is not loaded).
  int64_t count = 0;
  for (const auto& p : vit->parameters()) count += p.numel();
  EXPECT_EQ(count, 1198592);
  int64_t layer0 = 0;
  for (const auto& p : vit->layer_parameters(0)) layer0 += p.numel();
  EXPECT_EQ(layer0, 4 * 128 * 128 + 4 * 128 + 2 * 128 * 512 + 512 + 128 + 4 * 128);

  auto id = sherl::backbone_identity(sherl::test::vit_model_dir());
  EXPECT_EQ(id.model_type, "vit");
  EXPECT_EQ(id.hidden_size, 128);
  EXPECT_EQ(id.num_layers, 6);
  // The model card's published digests.
  EXPECT_EQ(id.config_sha256, "472b4318e1347882250d0de665d958c1fd86754243dd69e2118bee90203a2fc7");
  EXPECT_EQ(id.weights_sha256, "c31dd0c17839f8a79f739b1ed50cc44500e508d2826315085cf95ea8c9538f59");

  sherl::ModelInputs in;
  in.pixel_values = torch::zeros({2, 1, 28, 28});
  auto mask = vit->token_mask(in);
  EXPECT_EQ(mask.sizes(), (std::vector<int64_t>{2, 50}));
  EXPECT_EQ(mask.sum().item<int64_t>(), 100);
  auto tiers = sherl::compute_tiers(*vit, in, {3, 0});
  EXPECT_EQ(tiers.sizes(), (std::vector<int64_t>{2, 50, 2, 128}));
  EXPECT_FALSE(tiers.requires_grad());
  // Tier order follows the request: slot 1 is the embedding output.
  EXPECT_TRUE(torch::equal(tiers.select(2, 1), vit->embed(in)));
  EXPECT_THROW(sherl::compute_tiers(*vit, in, {7}), sherl::Error);
  in.pixel_values = torch::zeros({2, 3, 28, 28});
  EXPECT_THROW(vit->embed(in), sherl::Error);
}

// Pre-LN (ViT) layer for the first token only equals the first row of the full layer.
TEST(VitGolden, LayerForFirstTokenOnlyMatchesFullLayer) {
  auto vit = sherl::load_backbone(sherl::test::vit_model_dir());
  torch::manual_seed(3);
  auto hidden = torch::randn({3, 50, 128});
  sherl::ModelInputs in;
  in.pixel_values = torch::zeros({3, 1, 28, 28});
  auto state = vit->layer_state(vit->token_mask(in), hidden);
  auto full = vit->layer(5, hidden, state);
  auto first = vit->layer(5, hidden, state, sherl::OutputRows::first(1));
  ASSERT_EQ(first.sizes(), (std::vector<int64_t>{3, 1, 128}));
  EXPECT_LT((first - full.narrow(1, 0, 1)).abs().max().item<double>(), 1e-5);
  EXPECT_LT((vit->pool(first, state, sherl::OutputRows::first(1)) - vit->pool(full, state)).abs().max().item<double>(),
            1e-5);
}
