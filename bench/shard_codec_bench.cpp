// shard_codec_bench: how much do zstd level, byte-shuffle and dtype buy on real features,
// and what do they cost a training loader's random reads?
//
//   shard_codec_bench SHARD_SET_DIR [--examples 2000] [--reads 1000] [--levels 0,1,3,9]
//                     [--dtypes f32,f16,bf16] [--scratch DIR]
//
// Loads up to --examples examples of the set, rewrites them as one shard per setting and
// reports the compression ratio (raw values / file size) and random-example read speed
// (whole examples at random, as a training loader reads them; the fresh file is in the page
// cache, so this measures HDF5 + filters + conversion to float32, not the disk).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "lib/core/error.h"
#include "lib/core/runtime.h"
#include "lib/shard/shard.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string dir, scratch;
  int64_t examples = 2000, reads = 1000;
  std::vector<int> levels = {0, 1, 3, 9};
  std::vector<std::string> dtypes = {"f32", "f16", "bf16"};
};

struct Result {
  double ratio = 0, write_s = 0, mb_per_s = 0, examples_per_s = 0;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<sherl::ShardExample> load(const sherl::ShardSet& set, int64_t limit) {
  std::vector<sherl::ShardExample> out;
  for (int64_t i = 0; i < std::min(limit, set.size()); ++i) out.push_back(set.read(i));
  return out;
}

Result measure(const std::vector<sherl::ShardExample>& examples, sherl::ShardSetInfo info, int level, bool shuffle,
               int64_t reads, const std::string& path) {
  Result r;
  auto start = Clock::now();
  {
    sherl::ShardWriter writer(path, info, 0, {level, shuffle});
    for (const auto& ex : examples) writer.append(ex);
    writer.commit();
  }
  r.write_s = seconds_since(start);
  int64_t raw = 0;
  for (const auto& ex : examples)
    raw += ex.features.size(0) * sherl::row_bytes(info.dtype, ex.features.size(1), ex.features.size(2));
  r.ratio = static_cast<double>(raw) / static_cast<double>(fs::file_size(path));

  sherl::ShardReader reader(path);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> pick(0, reader.size() - 1);
  int64_t bytes = 0;
  start = Clock::now();
  for (int64_t k = 0; k < reads; ++k) bytes += reader.read(pick(rng)).features.numel() * static_cast<int64_t>(sherl::value_bytes(info.dtype));
  double secs = seconds_since(start);
  r.mb_per_s = bytes / secs / 1e6;
  r.examples_per_s = reads / secs;
  fs::remove(path);
  return r;
}

int run(const Options& o) {
  sherl::ShardSet set(o.dir);
  auto examples = load(set, o.examples);
  if (examples.empty()) throw sherl::error_at(o.dir, "shard set has no examples");
  std::string scratch = o.scratch.empty() ? fs::temp_directory_path().string() : o.scratch;
  std::string path = (fs::path(scratch) / ("shard_codec_bench." + std::to_string(::getpid()) + ".h5")).string();
  int64_t tokens = 0;
  for (const auto& ex : examples) tokens += ex.features.size(0);
  std::printf("# %s: %zu examples, %lld tokens, %zu tiers, d %lld; %lld random reads per setting\n\n",
              o.dir.c_str(), examples.size(), static_cast<long long>(tokens), set.info().tiers.size(),
              static_cast<long long>(set.info().backbone.hidden_size), static_cast<long long>(o.reads));
  std::printf("| dtype | zstd level | shuffle | ratio | write s | read MB/s | read examples/s |\n");
  std::printf("|-------|-----------:|---------|------:|--------:|----------:|----------------:|\n");
  for (const auto& dtype : o.dtypes) {
    sherl::ShardSetInfo info = set.info();
    info.dtype = sherl::parse_feature_dtype(dtype);
    for (int level : o.levels)
      for (bool shuffle : {true, false}) {
        if (level == 0 && !shuffle) continue;  // shuffle is only applied with compression
        Result r = measure(examples, info, level, shuffle, o.reads, path);
        std::printf("| %s | %d | %s | %.2f | %.2f | %.0f | %.0f |\n", dtype.c_str(), level,
                    level == 0 ? "-" : (shuffle ? "on" : "off"), r.ratio, r.write_s, r.mb_per_s, r.examples_per_s);
        std::fflush(stdout);
      }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  sherl::use_thread_pool_settings(argv);
  Options o;
  CLI::App app{"Compression ratio and random-read speed of shard codec settings"};
  app.add_option("dir", o.dir, "shard-set directory")->required();
  app.add_option("--examples", o.examples, "examples loaded and rewritten");
  app.add_option("--reads", o.reads, "random example reads per setting");
  app.add_option("--levels", o.levels, "zstd levels (0 = uncompressed)")->delimiter(',');
  app.add_option("--dtypes", o.dtypes, "feature dtypes")->delimiter(',');
  app.add_option("--scratch", o.scratch, "directory for the rewritten shards (default: the temp directory)");
  CLI11_PARSE(app, argc, argv);
  return sherl::run_tool("shard_codec_bench", [&] { return run(o); });
}
