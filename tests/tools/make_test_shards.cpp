// Writes a synthetic shard set for tests and benchmarks (not installed).
//
//   make_test_shards --out DIR [--shards 2] [--examples 8] [--tiers 3] [--hidden 16]
//                    [--dtype f16] [--level 3] [--no-shuffle] [--min-tokens 1] [--max-tokens 40]
//                    [--data residual|integers] [--seed 1]
//
// "integers" gives values k/16 (exact in every dtype); "residual" mimics a transformer's
// residual stream: per-feature offsets and scales, each tier adding a small update to the
// previous one. Neither is real activations; compression numbers from it are indicative only.
#include <CLI/CLI.hpp>

#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/runtime.h"
#include "lib/shard/shard.h"

namespace {

struct Options {
  std::string out, data = "residual", dtype = "f16";
  int64_t shards = 2, examples = 8, tiers = 3, hidden = 16, min_tokens = 1, max_tokens = 40, seed = 1;
  int level = 3;
  bool no_shuffle = false;
};

torch::Tensor make_features(const Options& o, int64_t tokens, const torch::Tensor& offset, const torch::Tensor& scale) {
  if (o.data == "integers") return torch::randint(-64, 64, {tokens, o.tiers, o.hidden}).to(torch::kFloat32) / 16.0;
  torch::Tensor x = torch::randn({tokens, o.hidden});
  std::vector<torch::Tensor> tiers;
  for (int64_t t = 0; t < o.tiers; ++t) {
    tiers.push_back(offset + scale * x);
    x = x + 0.3 * torch::randn({tokens, o.hidden});
  }
  return torch::stack(tiers, 1);
}

int run(const Options& o) {
  namespace fs = std::filesystem;
  fs::create_directories(o.out);
  torch::manual_seed(o.seed);
  sherl::Manifest m;
  m.info.backbone = {"vit", o.hidden, o.tiers + 1, std::string(64, '1'), std::string(64, '2')};
  for (int64_t t = 0; t < o.tiers; ++t) m.info.tiers.push_back(t);
  m.info.late_layers = 2;
  m.info.dtype = sherl::parse_feature_dtype(o.dtype);
  m.info.num_labels = 5;
  m.info.label_names = {"t-shirt", "trouser", "pullover", "dress", "coat"};
  m.info.source_path = "synthetic:" + o.data;
  m.info.source_sha256 = std::string(64, '3');
  m.info.tool_version = "test";
  m.info.command_line = "make_test_shards";
  torch::Tensor offset = 2 * torch::randn({o.hidden}), scale = torch::exp(0.5 * torch::randn({o.hidden}));
  int64_t id = 0;
  for (int64_t s = 0; s < o.shards; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(s));
    std::string path = (fs::path(o.out) / name).string();
    sherl::ShardWriter writer(path, m.info, s, {o.level, !o.no_shuffle});
    for (int64_t i = 0; i < o.examples; ++i, ++id) {
      int64_t tokens = torch::randint(o.min_tokens, o.max_tokens + 1, {1}).item<int64_t>();
      writer.append({id, make_features(o, tokens, offset, scale), torch::tensor(id % m.info.num_labels)});
    }
    std::string sha = writer.commit();
    m.shards.push_back({name, o.examples, sha, static_cast<int64_t>(fs::file_size(path))});
  }
  sherl::write_manifest(o.out, m);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  Options o;
  CLI::App app{"Writes a synthetic sherl shard set (test helper)"};
  app.add_option("--out", o.out, "shard-set directory")->required();
  app.add_option("--shards", o.shards);
  app.add_option("--examples", o.examples, "examples per shard");
  app.add_option("--tiers", o.tiers);
  app.add_option("--hidden", o.hidden);
  app.add_option("--dtype", o.dtype)->check(CLI::IsMember({"f32", "f16", "bf16"}));
  app.add_option("--level", o.level);
  app.add_flag("--no-shuffle", o.no_shuffle);
  app.add_option("--min-tokens", o.min_tokens);
  app.add_option("--max-tokens", o.max_tokens);
  app.add_option("--data", o.data)->check(CLI::IsMember({"residual", "integers"}));
  app.add_option("--seed", o.seed);
  CLI11_PARSE(app, argc, argv);
  return sherl::run_tool("make_test_shards", [&] { return run(o); });
}
