// --precision on the CPU: bf16 frozen layers in extraction and in the late route stay close
// to float32, keep float32 at their boundaries, and are recorded so that runs do not mix.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "lib/model/backbone.h"
#include "sherl/method/adapted_model.h"
#include "sherl/method/head.h"
#include "tests/support/extraction.h"
#include "tests/support/random_bert.h"

namespace {

namespace fs = std::filesystem;
const std::string kVit = std::string(SHERL_SOURCE_DIR) + "/examples/models/vit-tiny-fmnist5";
const torch::Device kCpu(torch::kCPU);

class Precision : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sherl-precision-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    sherl::test::write_random_bert(path("bert"), size_);
    std::ofstream(path("in.jsonl")) << sherl::test::random_token_jsonl(11, 20, size_.vocab, 3, 5);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  sherl::test::BertSize size_;
};

TEST_F(Precision, Bf16ExtractionIsCloseToFloat32ButNotEqual) {
  auto f32 = sherl::test::extract_features(path("bert"), path("in.jsonl"), path("f32"), kCpu);
  auto bf16 = sherl::test::extract_features(path("bert"), path("in.jsonl"), path("bf16"), kCpu, torch::kBFloat16);
  ASSERT_EQ(f32.size(), 11u);
  double difference = sherl::test::max_relative_difference(f32, bf16);
  EXPECT_LT(difference, 5e-2);
  EXPECT_GT(difference, 1e-4);  // it did run in bf16
}

TEST_F(Precision, ExtractionRefusesToMixPrecisionsInOneSet) {
  sherl::test::extract_features(path("bert"), path("in.jsonl"), path("set"), kCpu);
  try {
    sherl::test::extract_features(path("bert"), path("in.jsonl"), path("set"), kCpu, torch::kBFloat16);
    FAIL() << "a bf16 rerun over a float32 set was accepted";
  } catch (const sherl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("precision"), std::string::npos) << e.what();
  }
}

TEST_F(Precision, Bf16LateRouteKeepsFloat32OutsideAndCarriesGradients) {
  auto run = [](torch::ScalarType precision) {
    torch::manual_seed(3);
    auto late = std::make_shared<sherl::LateRoute>(sherl::load_backbone(kVit), 1, precision);
    sherl::MtsaOptions o;
    o.num_tiers = 3;
    o.hidden_size = 128;
    sherl::AdaptedModel model(sherl::Method::Sherl, o, 5, late);
    model->eval();
    auto outputs = model->forward(torch::randn({4, 50, 3, 128}), torch::ones({4, 50}, torch::kInt64));
    EXPECT_EQ(outputs.scalar_type(), torch::kFloat32);
    sherl::task_loss(sherl::LabelKind::Class, outputs, torch::tensor({0, 1, 2, 4})).backward();
    for (auto& p : model->mtsa()->named_parameters()) {
      EXPECT_EQ(p.value().scalar_type(), torch::kFloat32) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
    }
    return outputs.detach();
  };
  auto f32 = run(torch::kFloat32), bf16 = run(torch::kBFloat16);
  double difference = (f32 - bf16).abs().max().item<double>() / f32.abs().max().item<double>();
  EXPECT_LT(difference, 5e-2);
  EXPECT_GT(difference, 0);
}

}  // namespace
