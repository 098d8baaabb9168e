// The adapted model on the real bundled ViT: the late layers stay frozen yet carry the
// gradient to every MTSA parameter, and training changes the MTSA but never the backbone.
#include <gtest/gtest.h>

#include "lib/model/backbone.h"
#include "sherl/method/adapted_model.h"
#include "sherl/method/head.h"

namespace {

const std::string kVit = std::string(SHERL_SOURCE_DIR) + "/examples/models/vit-tiny-fmnist5";

sherl::AdaptedModel make_model(std::shared_ptr<sherl::LateRoute>& late, int64_t tiers) {
  torch::manual_seed(0);
  late = std::make_shared<sherl::LateRoute>(sherl::load_backbone(kVit), 1);
  sherl::MtsaOptions o;
  o.num_tiers = tiers;
  o.hidden_size = 128;
  return sherl::AdaptedModel(sherl::Method::Sherl, o, 5, late);
}

TEST(AdaptedModel, GradientsReachEveryMtsaParameterThroughFrozenLateLayers) {
  std::shared_ptr<sherl::LateRoute> late;
  auto model = make_model(late, 6);
  auto tiers = torch::randn({4, 50, 6, 128});
  auto mask = torch::ones({4, 50}, torch::kInt64);
  auto loss = sherl::task_loss(sherl::LabelKind::Class, model->forward(tiers, mask), torch::tensor({0, 1, 2, 3}));
  loss.backward();
  for (auto& p : model->mtsa()->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
  for (auto& p : late->backbone().parameters()) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
  }
}

TEST(AdaptedModel, GateStartsClosed) {
  std::shared_ptr<sherl::LateRoute> late;
  auto model = make_model(late, 6);
  EXPECT_EQ(model->mtsa()->gate_value().item<float>(), 0.0f);
}

TEST(AdaptedModel, TrainingChangesTheMtsaButNotTheLateLayers) {
  std::shared_ptr<sherl::LateRoute> late;
  auto model = make_model(late, 3);
  auto before_late = late->snapshot();
  std::vector<torch::Tensor> before_mtsa;
  for (auto& p : model->mtsa()->parameters()) before_mtsa.push_back(p.detach().clone());
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-2));
  auto tiers = torch::randn({8, 50, 3, 128});
  auto mask = torch::ones({8, 50}, torch::kInt64);
  auto labels = torch::randint(0, 5, {8}, torch::kInt64);
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    sherl::task_loss(sherl::LabelKind::Class, model->forward(tiers, mask), labels).backward();
    opt.step();
  }
  auto after_late = late->snapshot();
  ASSERT_EQ(before_late.size(), after_late.size());
  ASSERT_FALSE(before_late.empty());
  for (size_t i = 0; i < before_late.size(); ++i) EXPECT_TRUE(torch::equal(before_late[i], after_late[i]));
  auto after_mtsa = model->mtsa()->parameters();
  for (size_t i = 0; i < before_mtsa.size(); ++i) EXPECT_FALSE(torch::equal(before_mtsa[i], after_mtsa[i]));
  EXPECT_NE(model->mtsa()->gate_value().item<float>(), 0.0f);  // the gate opened
}

TEST(AdaptedModel, OptimizerNeverSeesBackboneParameters) {
  std::shared_ptr<sherl::LateRoute> late;
  auto model = make_model(late, 2);
  for (auto& p : model->parameters()) {
    for (auto& q : late->backbone().parameters()) EXPECT_FALSE(p.is_same(q));
  }
}

}  // namespace
