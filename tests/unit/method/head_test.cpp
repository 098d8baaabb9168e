// The task head and the loss of each task, against the formulas written out.
#include "sherl/method/head.h"

#include "lib/core/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sherl {
namespace {

TEST(Head, NamesShapesAndLinearInit) {
  torch::manual_seed(1);
  Head head(64, 5);
  auto p = head->named_parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p["weight"].sizes(), (std::vector<int64_t>{5, 64}));
  EXPECT_EQ(p["bias"].sizes(), (std::vector<int64_t>{5}));
  EXPECT_LE(p["weight"].abs().max().item<double>(), 1.0 / 8.0 + 1e-7);  // 1 / sqrt(fan_in)
  torch::Tensor x = torch::randn({3, 64});
  EXPECT_TRUE(torch::allclose(head(x), torch::matmul(x, p["weight"].t()) + p["bias"]));
  EXPECT_THROW(Head(64, 0), Error);
}

TEST(Head, TaskNames) {
  for (Task t : {LabelKind::Class, LabelKind::Regression, LabelKind::MultiLabel}) EXPECT_EQ(parse_task(task_name(t)), t);
  EXPECT_THROW(parse_task("classification"), Error);
}

TEST(Head, CrossEntropyByFormula) {
  torch::Tensor logits = torch::tensor({1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f}).reshape({2, 3});
  torch::Tensor target = torch::tensor({1, 2}, torch::kLong);
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.5)) - 2.0;
  const double l1 = std::log(std::exp(-1.0) + std::exp(0.0) + std::exp(3.0)) - 3.0;
  EXPECT_NEAR(task_loss(LabelKind::Class, logits, target).item<double>(), (l0 + l1) / 2, 1e-6);
  EXPECT_THROW(task_loss(LabelKind::Class, logits, torch::zeros({2, 3})), Error);
  EXPECT_THROW(task_loss(LabelKind::Class, logits, torch::tensor({1}, torch::kLong)), Error);
}

TEST(Head, MseAcceptsOneDimensionalTargetsForOneOutput) {
  torch::Tensor out = torch::tensor({1.0f, 2.0f, 4.0f}).reshape({3, 1});
  EXPECT_NEAR(task_loss(LabelKind::Regression, out, torch::tensor({0.0f, 2.0f, 1.0f})).item<double>(), 10.0 / 3, 1e-6);
  EXPECT_THROW(task_loss(LabelKind::Regression, torch::zeros({3, 2}), torch::zeros({3})), Error);
}

TEST(Head, BinaryCrossEntropyWithLogitsByFormula) {
  torch::Tensor logits = torch::tensor({0.5f, -2.0f}).reshape({1, 2});
  torch::Tensor target = torch::tensor({1.0f, 1.0f}).reshape({1, 2});
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const double expected = -(std::log(sig(0.5)) + std::log(sig(-2.0))) / 2;
  EXPECT_NEAR(task_loss(LabelKind::MultiLabel, logits, target).item<double>(), expected, 1e-6);
  torch::Tensor predicted = predict(LabelKind::MultiLabel, logits);
  EXPECT_TRUE(torch::equal(predicted, torch::tensor({1, 0}, torch::kLong).reshape({1, 2})));
}

}  // namespace
}  // namespace sherl
