// Adapter directories: round trip, the recorded description, and clear errors for every
// kind of damage.
#include "sherl/method/adapter_io.h"

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/model/safetensors.h"
#include "tests/unit/method/random_mtsa.h"
#include "tests/unit/method/scratch_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace sherl {
namespace {

using test::ScratchDir;

AdapterInfo small_info(const std::string& projection, const std::string& output) {
  AdapterInfo info;
  info.mtsa = test::small_options(projection, output, 4, 16);
  info.tiers = {0, 2, 3, 5};
  info.late_layers = 1;
  info.task = LabelKind::Class;
  info.num_outputs = 3;
  info.label_names = {"cat", "dog", "emu"};
  info.backbone = {"vit", 16, 6, "c0ffee", "beef"};
  info.training = {{"lr", 5e-4}, {"epochs", 2}};
  info.metrics = {{"accuracy", 0.75}};
  return info;
}

struct Saved {
  AdapterInfo info;
  Mtsa mtsa{nullptr};
  Head head{nullptr};
};

Saved save_random(const std::string& dir, const std::string& projection = "linear-ln",
                  const std::string& output = "ln") {
  Saved s{small_info(projection, output), nullptr, nullptr};
  s.mtsa = Mtsa(s.info.mtsa);
  test::randomise(s.mtsa);
  s.head = Head(16, 3);
  save_adapter(dir, s.info, s.mtsa, s.head);
  return s;
}

// Expects load_adapter(dir) to fail with a message containing every fragment.
void expect_load_error(const std::string& dir, const std::vector<std::string>& fragments) {
  try {
    load_adapter(dir);
    ADD_FAILURE() << "load_adapter accepted a damaged adapter";
  } catch (const Error& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

// Rewrites adapter.json through `edit`.
void edit_json(const std::string& dir, const std::function<void(json&)>& edit) {
  json j = read_json_file(adapter_json_path(dir));
  edit(j);
  write_file_atomic(adapter_json_path(dir), j.dump(2));
}

// Rewrites adapter.safetensors through `edit`, keeping adapter.json's checksum in step so
// that the name/shape checks are what is exercised.
void edit_weights(const std::string& dir, const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  std::map<std::string, torch::Tensor> tensors;
  {
    SafetensorsFile f(adapter_weights_path(dir));
    for (const auto& n : f.names()) tensors[n] = f.get(n);
  }
  edit(tensors);
  write_safetensors(adapter_weights_path(dir), tensors);
  edit_json(dir, [&](json& j) { j["weights"]["sha256"] = sha256_file(adapter_weights_path(dir)); });
}

TEST(AdapterIo, RoundTripBothVariants) {
  torch::manual_seed(11);
  for (auto variant : {std::make_pair("linear-ln", "ln"), std::make_pair("gated", "linear")}) {
    ScratchDir dir;
    Saved s = save_random(dir / "adapter", variant.first, variant.second);
    Adapter a = load_adapter(dir / "adapter");
    EXPECT_EQ(to_string(a.info.mtsa.projection), variant.first);
    EXPECT_EQ(to_string(a.info.mtsa.output), variant.second);
    EXPECT_EQ(a.info.tiers, s.info.tiers);
    EXPECT_EQ(a.info.label_names, s.info.label_names);
    EXPECT_EQ(a.info.backbone.config_sha256, "c0ffee");
    EXPECT_EQ(a.info.training, s.info.training);
    EXPECT_EQ(a.info.metrics, s.info.metrics);
    EXPECT_FALSE(a.mtsa->is_training());
    auto saved = adapter_tensors(s.mtsa, s.head), loaded = adapter_tensors(a.mtsa, a.head);
    ASSERT_EQ(saved.size(), loaded.size());
    for (const auto& kv : saved) EXPECT_TRUE(torch::equal(kv.second, loaded.at(kv.first))) << kv.first;
    EXPECT_TRUE(loaded.count("head.weight") && loaded.count("gate"));
    s.mtsa->eval();
    torch::Tensor tiers = test::random_tiers(s.info.mtsa);
    EXPECT_TRUE(torch::equal(s.mtsa->forward(tiers), a.mtsa->forward(tiers)));
  }
}

TEST(AdapterIo, LinearProbeHasHeadOnly) {
  ScratchDir dir;
  AdapterInfo info = small_info("linear-ln", "ln");
  Mtsa none{nullptr};
  Head head(16, 3);
  save_adapter(dir.path(), info, none, head);
  EXPECT_EQ(read_json_file(adapter_json_path(dir.path()))["method"]["name"], "linear");
  {
    SafetensorsFile f(adapter_weights_path(dir.path()));
    std::vector<std::string> names = f.names();
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"head.bias", "head.weight"}));
  }
  Adapter a = load_adapter(dir.path());
  EXPECT_EQ(a.info.method, Method::Linear);
  EXPECT_FALSE(a.mtsa);
  EXPECT_TRUE(torch::equal(a.head->named_parameters()["weight"], head->named_parameters()["weight"]));
  // A "sherl" description with head-only weights is damage, not a linear probe.
  edit_json(dir.path(), [](json& j) { j["method"]["name"] = "sherl"; });
  expect_load_error(dir.path(), {"adapter.safetensors: missing tensor 'attn.bias'"});
}

TEST(AdapterIo, JsonDescribesTheAdapter) {
  ScratchDir dir;
  save_random(dir.path());
  json j = read_json_file(adapter_json_path(dir.path()));
  EXPECT_EQ(j["format"], "sherl-adapter");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["method"]["name"], "sherl");
  EXPECT_EQ(j["method"]["projection"], "linear-ln");
  EXPECT_EQ(j["method"]["projection_size"], 8);
  EXPECT_EQ(j["method"]["temperature"], 0.1);
  EXPECT_EQ(j["task"], "classify");
  EXPECT_EQ(j["late_layers"], 1);
  EXPECT_EQ(j["weights"]["sha256"], sha256_file(adapter_weights_path(dir.path())));
  // 4 tiers x (16*8 + 8 + 8 + 8) + attn (8 + 1) + out (8*16 + 16 + 16 + 16) + gate + head (3*16 + 3)
  EXPECT_EQ(j["weights"]["parameters"], 4 * 152 + 9 + 176 + 1 + 51);
  // Overwriting an existing adapter works and leaves no temporaries behind.
  save_random(dir.path());
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_FALSE(is_temp_name(e.path().filename().string())) << e.path();
  }
  EXPECT_EQ(files, 2);
}

TEST(AdapterIo, RejectsBadDescriptions) {
  ScratchDir dir;
  const std::string d = dir.path();
  save_random(d);
  edit_json(d, [](json& j) { j["version"] = 2; });
  expect_load_error(d, {d + "/adapter.json: ", "version 2"});
  save_random(d);
  edit_json(d, [](json& j) { j["format"] = "lora"; });
  expect_load_error(d, {d + "/adapter.json: ", "format is 'lora'"});
  save_random(d);
  edit_json(d, [](json& j) { j["method"].erase("output"); });
  expect_load_error(d, {"adapter.json: method: missing key 'output'"});
  save_random(d);
  edit_json(d, [](json& j) { j["task"] = "rank"; });
  expect_load_error(d, {"adapter.json: ", "unknown task 'rank'"});
  save_random(d);
  edit_json(d, [](json& j) { j["tiers"] = {0, 1, 2}; });
  expect_load_error(d, {"adapter.json: ", "3 tiers but the MTSA has 4"});
  save_random(d);
  edit_json(d, [](json& j) { j["num_outputs"] = "three"; });
  expect_load_error(d, {"adapter.json: key 'num_outputs' has the wrong type"});
  expect_load_error(dir / "nowhere", {"nowhere/adapter.json: no such file"});
}

TEST(AdapterIo, RejectsTensorsThatDoNotMatchTheDescription) {
  ScratchDir dir;
  const std::string d = dir.path();
  save_random(d);
  edit_weights(d, [](auto& t) { t["attn.weight"] = torch::zeros({1, 9}); });
  expect_load_error(d, {d + "/adapter.safetensors: ", "'attn.weight' has shape [1, 9], expected [1, 8]"});
  save_random(d);
  edit_weights(d, [](auto& t) { t.erase("proj.3.norm.bias"); });
  expect_load_error(d, {"adapter.safetensors: missing tensor 'proj.3.norm.bias'"});
  save_random(d);
  edit_weights(d, [](auto& t) { t["proj.4.linear.weight"] = torch::zeros({8, 16}); });
  expect_load_error(d, {"adapter.safetensors: unexpected tensor 'proj.4.linear.weight'"});
  // Weights of another save under the same adapter.json.
  ScratchDir other;
  save_random(other.path());
  save_random(d);
  std::filesystem::copy_file(adapter_weights_path(other.path()), adapter_weights_path(d),
                             std::filesystem::copy_options::overwrite_existing);
  expect_load_error(d, {"adapter.safetensors: SHA-256 differs"});
}

TEST(AdapterIo, SaveChecksConsistency) {
  ScratchDir dir;
  AdapterInfo info = small_info("linear-ln", "ln");
  Mtsa m(info.mtsa);
  Head h(16, 3);
  AdapterInfo bad = info;
  bad.label_names = {"a"};
  EXPECT_THROW(save_adapter(dir.path(), bad, m, h), Error);
  bad = info;
  bad.tiers = {0, 2, 3, 4};  // the last tier must be the input of layer L - K = 5
  EXPECT_THROW(save_adapter(dir.path(), bad, m, h), Error);
  bad = info;
  bad.mtsa.output = OutputKind::Linear;
  EXPECT_THROW(save_adapter(dir.path(), bad, m, h), Error);
  Head wrong(16, 4);
  EXPECT_THROW(save_adapter(dir.path(), info, m, wrong), Error);
  EXPECT_FALSE(std::filesystem::exists(adapter_json_path(dir.path())));
}

}  // namespace
}  // namespace sherl
