#include "lib/core/device.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const sherl::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParseDevice, CpuAndAuto) {
  EXPECT_EQ(sherl::parse_device("cpu"), torch::Device(torch::kCPU));
  torch::Device chosen = sherl::parse_device("auto");
  EXPECT_EQ(chosen.is_cuda(), torch::cuda::is_available());
}

TEST(ParseDevice, MalformedSpecsAreRefusedWhateverTheMachine) {
  for (const char* spec : {"gpu", "cudax", "cuda:", "cuda:1abc", "cuda:-1", "cuda0", "CPU"})
    EXPECT_NE(error_of([&] { sherl::parse_device(spec); }).find("expected auto, cpu, cuda or cuda:N"),
              std::string::npos)
        << spec;
}

TEST(ParseDevice, CudaWithoutADeviceSaysWhy) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible";
  std::string message = error_of([] { sherl::parse_device("cuda:0"); });
  EXPECT_NE(message.find("CUDA is not available"), std::string::npos) << message;
  EXPECT_NE(message.find(torch::hasCUDA() ? "CUDA_VISIBLE_DEVICES" : "built without CUDA"), std::string::npos)
      << message;
}

TEST(ParsePrecision, NamesRoundTripAndHalfNeedsCuda) {
  torch::Device cpu(torch::kCPU);
  for (const char* name : {"f32", "bf16"}) EXPECT_EQ(sherl::precision_name(sherl::parse_precision(name, cpu)), name);
  EXPECT_EQ(sherl::parse_precision("bf16", cpu), torch::kBFloat16);
  EXPECT_NE(error_of([&] { sherl::parse_precision("f16", cpu); }).find("needs a CUDA device"), std::string::npos);
  EXPECT_NE(error_of([&] { sherl::parse_precision("fp8", cpu); }).find("expected f32, bf16 or f16"), std::string::npos);
  EXPECT_EQ(sherl::parse_precision("f16", torch::Device(torch::kCUDA, 0)), torch::kFloat16);
}

TEST(OutOfMemoryHint, NamesDeviceAndBatchSize) {
  torch::Device gpu(torch::kCUDA, 1);
  std::string message = error_of([&] {
    sherl::with_out_of_memory_hint(gpu, 256, [] {
      TORCH_CHECK(false, "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 1; 79.1 GiB total capacity)");
    });
  });
  EXPECT_NE(message.find("cuda:1 ran out of memory with --batch-size 256"), std::string::npos) << message;
  EXPECT_NE(message.find("Tried to allocate 2.00 GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("smaller --batch-size"), std::string::npos) << message;
}

TEST(OutOfMemoryHint, OtherErrorsPassUnchanged) {
  torch::Device gpu(torch::kCUDA, 0);
  EXPECT_THROW(sherl::with_out_of_memory_hint(gpu, 8, [] { TORCH_CHECK(false, "shape mismatch"); }), c10::Error);
  EXPECT_THROW(sherl::with_out_of_memory_hint(gpu, 8, [] { throw sherl::Error("x"); }), sherl::Error);
  int ran = 0;
  sherl::with_out_of_memory_hint(gpu, 8, [&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(PeakMemory, CpuReportsResidentSetSize) {
  torch::Device cpu(torch::kCPU);
  EXPECT_GT(sherl::peak_device_memory_bytes(cpu), 1 << 20);
  EXPECT_EQ(sherl::peak_memory_summary(cpu).rfind("peak RSS ", 0), 0u);
}

}  // namespace
