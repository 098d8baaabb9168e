// Metrics against values computed by hand (and cross-checked with sklearn/scipy formulas).
#include "sherl/report/metrics.h"

#include "lib/core/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sherl {
namespace {

torch::Tensor longs(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }
torch::Tensor doubles(std::vector<double> v) { return torch::tensor(v, torch::kDouble); }

TEST(Metrics, ClassificationByHand) {
  // target    0 0 0 1 1 2 2 2
  // predicted 0 0 1 1 2 2 2 0
  // confusion (rows true): [2 1 0] [0 1 1] [1 0 2]; correct 5 of 8.
  json m = classification_metrics(longs({0, 0, 1, 1, 2, 2, 2, 0}), longs({0, 0, 0, 1, 1, 2, 2, 2}), 3);
  EXPECT_EQ(m["examples"], 8);
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), 5.0 / 8.0);
  EXPECT_EQ(m["confusion_matrix"], json::parse("[[2,1,0],[0,1,1],[1,0,2]]"));
  // F1 per class: 2tp/(2tp+fp+fn): 4/6, 2/4, 4/6.
  EXPECT_NEAR(m["macro_f1"].get<double>(), (4.0 / 6 + 0.5 + 4.0 / 6) / 3, 1e-12);
  // Gorodkin: t = (3,2,3), p = (3,2,3), c = 5, s = 8:
  // (5*8 - (9+4+9)) / sqrt((64-22)(64-22)) = 18 / 42.
  EXPECT_NEAR(m["mcc"].get<double>(), 18.0 / 42.0, 1e-12);
}

TEST(Metrics, MccBinaryMatchesTheClassicFormula) {
  // tp 3, tn 4, fp 1, fn 2: (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))
  std::vector<std::vector<int64_t>> m = {{4, 1}, {2, 3}};
  EXPECT_NEAR(matthews_corrcoef(m), (12.0 - 2.0) / std::sqrt(4.0 * 5 * 5 * 6), 1e-12);
  // A constant prediction: undefined, 0 as sklearn.
  EXPECT_EQ(matthews_corrcoef({{5, 0}, {3, 0}}), 0.0);
}

TEST(Metrics, MacroF1SkipsClassesAbsentFromBoth) {
  // Class 2 of 3 never occurs: averaged over classes 0 and 1 only (sklearn's labels=None).
  json m = classification_metrics(longs({0, 1, 1}), longs({0, 1, 0}), 3);
  // class 0: tp 1, fn 1 -> 2/3; class 1: tp 1, fp 1 -> 2/3.
  EXPECT_NEAR(m["macro_f1"].get<double>(), 2.0 / 3.0, 1e-12);
}

TEST(Metrics, ClassificationRejectsOutOfRangeClasses) {
  EXPECT_THROW(classification_metrics(longs({0, 3}), longs({0, 1}), 3), Error);
  EXPECT_THROW(classification_metrics(longs({0, 1}), longs({0, 1, 1}), 3), Error);
}

TEST(Metrics, RanksAverageTies) {
  std::vector<double> r = average_ranks({10, 20, 10, 30, 20, 20});
  EXPECT_EQ(r, (std::vector<double>{1.5, 4, 1.5, 6, 4, 4}));
}

TEST(Metrics, RegressionByHand) {
  // x = 1 2 3 4, y = 2 4 5 4: mx 2.5, my 3.75; sxy = 3.5, sxx = 5, syy = 4.75.
  json m = regression_metrics(doubles({1, 2, 3, 4}), doubles({2, 4, 5, 4}));
  EXPECT_NEAR(m["pearson"].get<double>(), 3.5 / std::sqrt(5 * 4.75), 1e-12);
  // ranks of y: 1, 2.5, 4, 2.5 -> sxy = 3, sxx = 5, syy = 4.5.
  EXPECT_NEAR(m["spearman"].get<double>(), 3.0 / std::sqrt(5 * 4.5), 1e-12);
  EXPECT_NEAR(m["mse"].get<double>(), (1 + 4 + 4 + 0) / 4.0, 1e-12);
  EXPECT_EQ(m["examples"], 4);
}

TEST(Metrics, UndefinedCorrelationIsNull) {
  json m = regression_metrics(doubles({1, 1, 1}), doubles({1, 2, 3}));
  EXPECT_TRUE(m["pearson"].is_null());
  EXPECT_TRUE(m["spearman"].is_null());
  EXPECT_NEAR(m["mse"].get<double>(), 5.0 / 3.0, 1e-12);
}

TEST(Metrics, MultilabelByHand) {
  // rows: exact, exact, one false positive, one false negative.
  torch::Tensor t = longs({1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0}).reshape({4, 3});
  torch::Tensor p = longs({1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0}).reshape({4, 3});
  json m = multilabel_metrics(p, t);
  // tp = 2+1+1+1 = 5, fp = 1, fn = 1 -> 10 / 12.
  EXPECT_NEAR(m["micro_f1"].get<double>(), 10.0 / 12.0, 1e-12);
  EXPECT_DOUBLE_EQ(m["exact_match"].get<double>(), 0.5);
}

TEST(Metrics, TaskMetricsFromRawOutputs) {
  torch::Tensor logits = torch::tensor({{2.0, 1.0}, {0.0, 3.0}, {5.0, -1.0}}).reshape({3, 2});
  json c = task_metrics(LabelKind::Class, logits, longs({0, 1, 1}));
  EXPECT_NEAR(c["accuracy"].get<double>(), 2.0 / 3.0, 1e-12);
  json ml = task_metrics(LabelKind::MultiLabel, logits, torch::tensor({1.f, 1.f, 0.f, 1.f, 0.f, 0.f}).reshape({3, 2}));
  EXPECT_DOUBLE_EQ(ml["exact_match"].get<double>(), 2.0 / 3.0);
  json r = task_metrics(LabelKind::Regression, torch::tensor({1.0, 2.0, 3.0}).reshape({3, 1}), doubles({2, 4, 6}));
  EXPECT_NEAR(r["pearson"].get<double>(), 1.0, 1e-12);
  EXPECT_EQ(primary_metric(LabelKind::Regression), "pearson");
}

}  // namespace
}  // namespace sherl
