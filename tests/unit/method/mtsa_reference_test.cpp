// Parity of the MTSA forward pass with tests/python/mtsa_reference.py, an independent
// PyTorch implementation written from docs/method.md. The adapter goes through
// save_adapter, so the tensor names and adapter.json are checked on the way.
#include "sherl/method/adapter_io.h"

#include "lib/model/safetensors.h"
#include "tests/unit/method/random_mtsa.h"
#include "tests/unit/method/scratch_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace sherl {
namespace {

struct Variant {
  const char* projection;
  const char* output;
  int64_t num_tiers;
};

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

void check_parity(const Variant& v) {
  SCOPED_TRACE(std::string(v.projection) + "/" + v.output + " N=" + std::to_string(v.num_tiers));
  torch::manual_seed(20 + v.num_tiers);
  test::ScratchDir dir;
  AdapterInfo info;
  info.mtsa = test::small_options(v.projection, v.output, v.num_tiers, 32);
  for (int64_t i = 0; i < v.num_tiers; ++i) info.tiers.push_back(i);
  info.backbone = {"bert", 32, v.num_tiers, "c", "w"};  // last tier = input of layer L - 1
  info.num_outputs = 2;
  Mtsa mtsa(info.mtsa);
  test::randomise(mtsa);
  Head head(32, 2);
  save_adapter(dir / "adapter", info, mtsa, head);

  torch::Tensor tiers = test::random_tiers(info.mtsa, 3, 7, torch::kDouble);
  write_safetensors(dir / "inputs.safetensors", {{"tiers", tiers}});
  const std::string command = std::string("/usr/bin/python3 ") + SHERL_SOURCE_DIR +
                              "/tests/python/mtsa_reference.py " + dir / "adapter" + " " +
                              dir / "inputs.safetensors" + " " + dir / "outputs.safetensors";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  SafetensorsFile reference(dir / "outputs.safetensors");
  torch::Tensor ref_out = reference.get("out"), ref_attention = reference.get("attention");

  // The loaded adapter (float32 weights), evaluated in float64 and in float32.
  Adapter a = load_adapter(dir / "adapter");
  a.mtsa->to(torch::kDouble);
  MtsaTrace t64 = a.mtsa->forward_traced(tiers);
  a.mtsa->to(torch::kFloat);
  MtsaTrace t32 = a.mtsa->forward_traced(tiers.to(torch::kFloat));

  ASSERT_EQ(t64.out.sizes(), ref_out.sizes());
  ASSERT_EQ(t64.attention.sizes(), ref_attention.sizes());
  const double out64 = max_abs_diff(t64.out, ref_out), att64 = max_abs_diff(t64.attention, ref_attention);
  const double out32 = max_abs_diff(t32.out, ref_out), att32 = max_abs_diff(t32.attention, ref_attention);
  std::printf("[ parity   ] %s/%s N=%ld: max |diff| out %.3g (f64) %.3g (f32), attention %.3g (f64) %.3g (f32)\n",
              v.projection, v.output, static_cast<long>(v.num_tiers), out64, out32, att64, att32);
  EXPECT_LT(out64, 1e-10);
  EXPECT_LT(att64, 1e-10);
  EXPECT_LT(out32, 1e-5);
  EXPECT_LT(att32, 1e-5);
  // The comparison means something: outputs of the size of LayerNorm'd values, attention used.
  EXPECT_GT(ref_out.abs().max().item<double>(), 0.5);
  if (v.num_tiers > 1) EXPECT_GT(ref_attention.max().item<double>(), 0.05);
}

TEST(MtsaReference, LinearLnWithLayerNormOutput) { check_parity({"linear-ln", "ln", 5}); }
TEST(MtsaReference, GatedWithLinearOutput) { check_parity({"gated", "linear", 4}); }
TEST(MtsaReference, SingleTier) { check_parity({"gated", "ln", 1}); }

}  // namespace
}  // namespace sherl
