// CPU/GPU parity, under the CTest label "cuda": every test here skips itself, and CTest
// reports it as skipped (not passed), where LibTorch sees no CUDA device.
// TF32 is off so that float32 means float32 on both sides.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "lib/core/device.h"
#include "lib/model/backbone.h"
#include "sherl/method/adapted_model.h"
#include "sherl/method/head.h"
#include "sherl/method/mtsa.h"
#include "tests/support/extraction.h"
#include "tests/support/random_bert.h"

namespace {

namespace fs = std::filesystem;
const std::string kVit = std::string(SHERL_SOURCE_DIR) + "/examples/models/vit-tiny-fmnist5";
const torch::Device kGpu(torch::kCUDA, 0);
const torch::Device kCpu(torch::kCPU);

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to LibTorch";
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    dir_ = fs::temp_directory_path() / ("sherl-cuda-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write_bert_inputs(int64_t examples) {
    sherl::test::BertSize size;
    sherl::test::write_random_bert(path("bert"), size);
    std::ofstream(path("in.jsonl")) << sherl::test::random_token_jsonl(examples, 24, size.vocab, 3, 7);
    return path("bert");
  }

  fs::path dir_;
};

// max |a - b| / max |a|
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(kCpu, torch::kFloat64), y = b.to(kCpu, torch::kFloat64);
  return (x - y).abs().max().item<double>() / std::max(x.abs().max().item<double>(), 1e-30);
}

torch::Tensor vit_tiers(torch::Device device, torch::ScalarType precision, const torch::Tensor& pixels) {
  sherl::Backbone vit = sherl::load_backbone(kVit, device);
  vit->to(precision);
  std::vector<int64_t> all(static_cast<size_t>(vit->num_layers()) + 1);
  std::iota(all.begin(), all.end(), 0);
  return sherl::compute_tiers(*vit, {pixels.to(device), {}, {}, {}}, all).to(kCpu, torch::kFloat32);
}

TEST_F(Cuda, VitTiersMatchTheCpu) {
  torch::manual_seed(0);
  auto pixels = torch::randn({3, 1, 28, 28});
  EXPECT_LT(relative_difference(vit_tiers(kCpu, torch::kFloat32, pixels), vit_tiers(kGpu, torch::kFloat32, pixels)),
            1e-5);
}

TEST_F(Cuda, Bf16AndF16ForwardStayCloseToFloat32) {
  torch::manual_seed(0);
  auto pixels = torch::randn({3, 1, 28, 28});
  auto reference = vit_tiers(kGpu, torch::kFloat32, pixels);
  EXPECT_LT(relative_difference(reference, vit_tiers(kGpu, torch::kBFloat16, pixels)), 5e-2);
  EXPECT_LT(relative_difference(reference, vit_tiers(kGpu, torch::kFloat16, pixels)), 1e-2);
}

TEST_F(Cuda, BertExtractionWithPaddingGivesTheCpuShards) {
  std::string bert = write_bert_inputs(13);
  auto cpu = sherl::test::extract_features(bert, path("in.jsonl"), path("cpu"), kCpu);
  auto gpu = sherl::test::extract_features(bert, path("in.jsonl"), path("gpu"), kGpu);
  ASSERT_EQ(cpu.size(), 13u);
  EXPECT_LT(sherl::test::max_relative_difference(cpu, gpu), 1e-5);
  auto bf16 = sherl::test::extract_features(bert, path("in.jsonl"), path("gpu-bf16"), kGpu, torch::kBFloat16);
  EXPECT_LT(sherl::test::max_relative_difference(cpu, bf16), 5e-2);
}

TEST_F(Cuda, MtsaForwardAndGradientsMatchTheCpu) {
  for (const char* projection : {"linear-ln", "gated"}) {
    sherl::MtsaOptions o;
    o.num_tiers = 4;
    o.hidden_size = 32;
    o.projection = sherl::parse_projection_kind(projection);
    torch::manual_seed(1);
    sherl::Mtsa on_cpu(o);
    torch::manual_seed(1);
    sherl::Mtsa on_gpu(o);
    on_gpu->to(kGpu);
    auto tiers = torch::randn({3, 10, 4, 32});
    auto mask = torch::ones({3, 10}, torch::kInt64);
    mask[2].slice(0, 6).zero_();
    auto weights = torch::randn({3, 32});
    auto cpu_out = on_cpu->forward(tiers, mask);
    auto gpu_out = on_gpu->forward(tiers.to(kGpu), mask.to(kGpu));
    EXPECT_LT(relative_difference(cpu_out, gpu_out), 1e-5) << projection;
    (cpu_out * weights).sum().backward();
    (gpu_out * weights.to(kGpu)).sum().backward();
    auto cpu_params = on_cpu->named_parameters(), gpu_params = on_gpu->named_parameters();
    for (auto& p : cpu_params) {
      const auto& g = gpu_params[p.key()].grad();
      ASSERT_TRUE(g.defined()) << projection << " " << p.key();
      EXPECT_LT(relative_difference(p.value().grad(), g), 1e-4) << projection << " " << p.key();
    }
  }
}

TEST_F(Cuda, TrainingStepThroughTheLateRouteMatchesTheCpu) {
  auto step = [](torch::Device device, torch::ScalarType precision) {
    torch::manual_seed(2);
    auto late = std::make_shared<sherl::LateRoute>(sherl::load_backbone(kVit, device), 1, precision);
    sherl::MtsaOptions o;
    o.num_tiers = 3;
    o.hidden_size = 128;
    sherl::AdaptedModel model(sherl::Method::Sherl, o, 5, late);
    model->to(device);
    model->eval();  // no dropout: the two devices draw different random numbers
    auto tiers = torch::randn({4, 50, 3, 128});
    auto labels = torch::tensor({0, 1, 2, 4});
    auto loss = sherl::task_loss(sherl::LabelKind::Class,
                                 model->forward(tiers.to(device), torch::ones({4, 50}, torch::kInt64).to(device)),
                                 labels.to(device));
    loss.backward();
    std::vector<torch::Tensor> grads = {loss.detach().reshape({1})};
    for (auto& p : model->mtsa()->parameters()) grads.push_back(p.grad().flatten());
    return torch::cat(grads).to(kCpu);
  };
  auto cpu = step(kCpu, torch::kFloat32);
  EXPECT_LT(relative_difference(cpu, step(kGpu, torch::kFloat32)), 1e-4);
  EXPECT_LT(relative_difference(cpu, step(kGpu, torch::kBFloat16)), 1e-1);
}

TEST_F(Cuda, PeakMemoryIsTheAllocatorsAndResets) {
  sherl::reset_peak_device_memory(kGpu);
  {
    auto big = torch::empty({64 << 20}, torch::TensorOptions().device(kGpu).dtype(torch::kFloat32));  // 256 MiB
    EXPECT_GE(sherl::peak_device_memory_bytes(kGpu), int64_t(256) << 20);
  }
  sherl::reset_peak_device_memory(kGpu);
  EXPECT_LT(sherl::peak_device_memory_bytes(kGpu), int64_t(256) << 20);
  EXPECT_NE(sherl::peak_memory_summary(kGpu).find("peak GPU memory"), std::string::npos);
}

}  // namespace
