// extract_gflops_bench: how close does extraction come to the device's matrix-multiply rate?
//
//   extract_gflops_bench [--model DIR] [--scratch DIR] [--batch 32] [--tokens 128]
//                        [--gemm 2048] [--products 4] [--reps 3] [--batches 3]
//                        [--late-layers 1] [--threads T] [--dtype f16] [--keep]
//                        [--device cpu|cuda] [--precision f32|bf16|f16]
//
// In one process it measures, on --device in --precision (defaults: the CPU, float32)
//   (a) LibTorch's GEMM rate: torch::mm_out of two --gemm square matrices, --products
//       times per timed block (2 n^3 FLOP each);
//   (b) the model alone: sherl::compute_tiers on one batch of --batch x --tokens random token
//       ids (no padding), all tiers 0..L, i.e. every one of the L layers, under
//       torch::InferenceMode as sherl-extract runs it;
//   (c) the extractor end to end: sherl::run_extraction (what sherl-extract runs) over a
//       JSON Lines file of --batches x --batch pre-tokenised examples of --tokens tokens, with
//       --batch-size --batch, --tiers all, --late-layers K (layers 0..L-K-1 run), f16 shards,
//       zstd 3 + shuffle, into a fresh directory. Its time includes everything the tool does
//       after parsing its options: hashing and loading the model, reading the input,
//       converting, compressing and writing the shards.
// After one warm-up of (a) and (b), each of --reps reps runs a, b, c, a; the ratios of a rep
// are to the mean GEMM rate of its two GEMM blocks, so that load from other processes that
// comes and goes affects both sides alike. Prints a row per rep and the medians, by wall
// clock and per CPU-second (process CPU time of all threads, which load inflates less).
//
// FLOP count (multiply-adds count 2; embeddings, norms, softmax, activations, biases not
// counted), per layer and per token, with d = hidden size, I = intermediate size, T = tokens,
// A = attention width (heads x head dim; d for BERT), V = key/value width (A, or less with
// grouped-query attention), from the model's layer options:
//   Q, K, V projections  2 * d * (A + 2 V)
//   scores q k^T          2 * T * A        (all heads together; causal models too compute all)
//   context  p v          2 * T * A
//   attention output      2 * A * d
//   MLP                   2 * d * I + 2 * I * d, and 2 * d * I more for a gated MLP
//   BERT: 8 d^2 + 4 d I + 4 T d   (BERT-base, I = 4d: 24 d^2 + 4 T d = 14.55 MFLOP at
//   d 768, T 128; 715.1 GFLOP for 12 layers x 32 x 128 tokens)
// Any supported family works through --model (bench/random_model.py writes T5- and
// Llama-shaped ones).
//
// Without --model it writes a BERT-base-sized model with random weights (Hugging Face layout,
// config.json + model.safetensors, ~440 MB f32) into a temporary directory under --scratch
// (default: the system's temporary directory), removed at the end unless --keep.
#include <CLI/CLI.hpp>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "lib/core/cli.h"
#include "lib/core/device.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/runtime.h"
#include "lib/extract/extractor.h"
#include "lib/model/backbone.h"
#include "lib/model/layer_stack.h"
#include "tests/support/random_bert.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string model, scratch, dtype = "f16", device = "cpu", precision = "f32";
  int64_t batch = 32, tokens = 128, gemm = 2048, products = 4, reps = 3, batches = 3, late_layers = 1;
  int threads = 0;
  bool keep = false;
  torch::Device on = torch::kCPU;          // parsed --device
  torch::ScalarType compute = torch::kFloat32;  // parsed --precision
};

// Work on a GPU is asynchronous: a timing ends when the device is done.
void finish_work(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

struct Dims {
  int64_t layers = 0, vocab = 0;
  sherl::EncoderLayerOptions layer;
};

// Wall-clock and process CPU time (all threads) of one call.
struct Timing {
  double wall = 0, cpu = 0;
};

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

template <typename F>
Timing timed(F&& f) {
  auto wall = Clock::now();
  double cpu = cpu_seconds();
  f();
  return {std::chrono::duration<double>(Clock::now() - wall).count(), cpu_seconds() - cpu};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The formula of the header comment.
double layer_flop_per_token(const Dims& m, int64_t tokens) {
  const auto& o = m.layer;
  const double d = static_cast<double>(o.hidden_size), I = static_cast<double>(o.intermediate_size),
               T = static_cast<double>(tokens), A = static_cast<double>(o.num_heads * o.head_dim),
               V = static_cast<double>(o.num_kv_heads * o.head_dim);
  const double mlp = (o.mlp == sherl::MlpKind::Gated ? 3 : 2) * 2 * d * I;
  return 2 * d * (A + 2 * V) + 4 * T * A + 2 * A * d + mlp;
}

// OpenBLAS's own thread count when LibTorch's BLAS is OpenBLAS (-1: not found).
int openblas_threads() {
  using Fn = int (*)();
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return fn ? fn() : -1;
}

// The sizes the FLOP count needs, from the model as loaded (every family names them its way).
Dims read_dims(const std::string& model_dir) {
  sherl::Backbone backbone = sherl::load_backbone(model_dir);
  auto* stack = dynamic_cast<const sherl::LayerStackBackboneImpl*>(backbone.get());
  if (!stack) throw sherl::Error(model_dir + ": not a stack of encoder layers; no FLOP count for it");
  return {backbone->num_layers(), sherl::read_json_file(model_dir + "/config.json").at("vocab_size").get<int64_t>(),
          stack->layer_options()};
}

// (a) --products products of two n x n matrices in --precision on --device.
class Gemm {
 public:
  Gemm(int64_t n, const Options& o) : products_(o.products), device_(o.on) {
    torch::manual_seed(1);
    auto options = torch::TensorOptions().device(o.on).dtype(o.compute);
    a_ = torch::randn({n, n}, options);
    b_ = torch::randn({n, n}, options);
    c_ = torch::empty({n, n}, options);
    gflop_ = 2.0 * n * n * n * o.products / 1e9;
  }
  Timing run() {
    return timed([&] {
      for (int64_t p = 0; p < products_; ++p) torch::mm_out(c_, a_, b_);
      finish_work(device_);
    });
  }
  double gflop() const { return gflop_; }

 private:
  int64_t products_;
  torch::Device device_;
  torch::Tensor a_, b_, c_;
  double gflop_ = 0;
};

// (b) compute_tiers on one batch, every layer.
class ModelBatch {
 public:
  ModelBatch(const std::string& model_dir, const Dims& m, const Options& o)
      : backbone_(sherl::load_backbone(model_dir, o.on)), device_(o.on) {
    backbone_->to(o.compute);
    uint64_t seed = 2;
    auto ids = torch::empty({o.batch, o.tokens}, torch::kInt64);
    for (int64_t b = 0; b < o.batch; ++b) {
      auto row = sherl::test::random_token_ids(seed, o.tokens, m.vocab);
      std::copy(row.begin(), row.end(), ids[b].data_ptr<int64_t>());
    }
    inputs_ = sherl::to_device({{}, ids, torch::zeros_like(ids), torch::ones_like(ids)}, o.on);
    for (int64_t t = 0; t <= m.layers; ++t) tiers_.push_back(t);
    gflop_ = layer_flop_per_token(m, o.tokens) * m.layers * o.batch * o.tokens / 1e9;
  }
  Timing run() {
    return timed([&] {
      torch::InferenceMode inference;
      auto features = sherl::compute_tiers(*backbone_, inputs_, tiers_);
      finish_work(device_);
    });
  }
  double gflop() const { return gflop_; }

 private:
  sherl::Backbone backbone_;
  torch::Device device_;
  sherl::ModelInputs inputs_;
  std::vector<int64_t> tiers_;
  double gflop_ = 0;
};

// (c) sherl::run_extraction over --batches batches of pre-tokenised JSON Lines.
class Extraction {
 public:
  Extraction(const std::string& model_dir, const Dims& m, const Options& o, const std::string& work)
      : examples_(o.batch * o.batches) {
    std::string input = work + "/input.jsonl";
    {
      std::ofstream out(input);
      uint64_t seed = 3;
      for (int64_t i = 0; i < examples_; ++i)
        out << sherl::json{{"input_ids", sherl::test::random_token_ids(seed, o.tokens, m.vocab)}, {"label", i % 2}}
                   .dump()
            << "\n";
      if (!out) throw sherl::error_at(input, "cannot write the benchmark input");
    }
    x_.model_dir = model_dir;
    x_.input.path = input;
    x_.input.format = "jsonl";
    x_.input.model_dir = model_dir;
    x_.input.max_length = o.tokens;
    x_.source_name = input;
    x_.late_layers = o.late_layers;
    x_.tiers = "all";
    x_.dtype = sherl::parse_feature_dtype(o.dtype);
    x_.batch_size = o.batch;
    x_.device = o.on;
    x_.precision = o.compute;
    x_.quiet = true;
    x_.command_line = "extract_gflops_bench";
    x_.out_dir = work + "/shards";
    gflop_ = layer_flop_per_token(m, o.tokens) * (m.layers - o.late_layers) * examples_ * o.tokens / 1e9;
  }
  Timing run() {
    fs::remove_all(x_.out_dir);  // a fresh directory: nothing kept from the previous run
    sherl::ExtractReport report;
    Timing t = timed([&] { report = sherl::run_extraction(x_); });
    if (report.examples != examples_ || report.shards_written < 1 || !report.manifest_written)
      throw sherl::Error("extract_gflops_bench: the extraction did not write " + std::to_string(examples_) +
                         " examples");
    fs::remove_all(x_.out_dir);
    return t;
  }
  double gflop() const { return gflop_; }

 private:
  int64_t examples_;
  sherl::ExtractOptions x_;
  double gflop_ = 0;
};

int run(Options& o) {
  if (o.batch < 1 || o.tokens < 2 || o.gemm < 1 || o.products < 1 || o.reps < 1 || o.batches < 1)
    throw sherl::Error(
        "extract_gflops_bench: --batch, --gemm, --products, --reps and --batches must be positive, --tokens >= 2");
  sherl::set_threads(o.threads);
  o.on = sherl::parse_device(o.device);
  o.compute = sherl::parse_precision(o.precision, o.on);
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  std::printf("LibTorch intra-op threads %d, OpenBLAS threads %d, OMP_WAIT_POLICY %s\n", at::get_num_threads(),
              openblas_threads(), wait ? wait : "(unset)");

  std::string scratch = o.scratch.empty() ? fs::temp_directory_path().string() : o.scratch;
  std::string work = (fs::path(scratch) / ("extract_gflops_bench." + std::to_string(::getpid()))).string();
  fs::create_directories(work);
  std::string model_dir = o.model;
  if (model_dir.empty()) {
    model_dir = work + "/bert-base-random";
    Timing t = timed([&] { sherl::test::write_random_bert(model_dir, {12, 768, 12, 3072, 30522}); });
    std::printf("random BERT-base written to %s in %.1f s\n", model_dir.c_str(), t.wall);
  }
  Dims m = read_dims(model_dir);
  std::printf("model: %lld layers, d %lld, attention %lld (key/value %lld), intermediate %lld%s; batch %lld x %lld "
              "tokens; %.2f MFLOP per layer and token\n",
              static_cast<long long>(m.layers), static_cast<long long>(m.layer.hidden_size),
              static_cast<long long>(m.layer.num_heads * m.layer.head_dim),
              static_cast<long long>(m.layer.num_kv_heads * m.layer.head_dim),
              static_cast<long long>(m.layer.intermediate_size), m.layer.mlp == sherl::MlpKind::Gated ? " (gated)" : "",
              static_cast<long long>(o.batch), static_cast<long long>(o.tokens), layer_flop_per_token(m, o.tokens) / 1e6);

  Gemm gemm(o.gemm, o);
  ModelBatch model(model_dir, m, o);
  Extraction extraction(model_dir, m, o, work);
  std::printf("per rep: GEMM %.1f GFLOP (%lld x %lld^3), model %.1f GFLOP (%lld layers), extractor %.1f GFLOP "
              "(%lld examples, %lld layers, %s)\n",
              gemm.gflop(), static_cast<long long>(o.products), static_cast<long long>(o.gemm), model.gflop(),
              static_cast<long long>(m.layers), extraction.gflop(), static_cast<long long>(o.batch * o.batches),
              static_cast<long long>(m.layers - o.late_layers), o.dtype.c_str());
  gemm.run();  // warm-ups
  model.run();

  // Interleaved, so that a load from other processes that comes and goes hits the GEMM and
  // the extraction alike: each rep brackets the model batch and the extraction between two
  // GEMM blocks, and its ratios are to their mean rate.
  std::vector<double> g_wall, g_cpu, m_wall, m_cpu, e_wall, e_cpu, rm_wall, rm_cpu, re_wall, re_cpu;
  std::printf("\n| rep | GEMM GFLOP/s | model GFLOP/s | extractor GFLOP/s | model/GEMM | extractor/GEMM |"
              " (per CPU-second: GEMM, model, extractor) |\n|---|---:|---:|---:|---:|---:|---|\n");
  std::fflush(stdout);
  for (int64_t r = 0; r < o.reps; ++r) {
    Timing g1 = gemm.run(), mt = model.run(), et = extraction.run(), g2 = gemm.run();
    double gw = (gemm.gflop() / g1.wall + gemm.gflop() / g2.wall) / 2;
    double gc = (gemm.gflop() / g1.cpu + gemm.gflop() / g2.cpu) / 2;
    g_wall.push_back(gw);
    g_cpu.push_back(gc);
    m_wall.push_back(model.gflop() / mt.wall);
    m_cpu.push_back(model.gflop() / mt.cpu);
    e_wall.push_back(extraction.gflop() / et.wall);
    e_cpu.push_back(extraction.gflop() / et.cpu);
    rm_wall.push_back(m_wall.back() / gw);
    rm_cpu.push_back(m_cpu.back() / gc);
    re_wall.push_back(e_wall.back() / gw);
    re_cpu.push_back(e_cpu.back() / gc);
    std::printf("| %lld | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f, %.1f, %.1f |\n", static_cast<long long>(r + 1), gw,
                m_wall.back(), e_wall.back(), rm_wall.back(), re_wall.back(), gc, m_cpu.back(), e_cpu.back());
    std::fflush(stdout);
  }
  std::printf("\nmedians over %lld reps (wall clock; per CPU-second of all threads in brackets):\n",
              static_cast<long long>(o.reps));
  std::printf("  GEMM %-4s %lld^3            %7.1f GFLOP/s  (%.1f) on %s\n", o.precision.c_str(),
              static_cast<long long>(o.gemm), median(g_wall), median(g_cpu), o.on.str().c_str());
  std::printf("  model (compute_tiers)       %7.1f GFLOP/s  (%.1f)   ratio %.2f  (%.2f)\n", median(m_wall),
              median(m_cpu), median(rm_wall), median(rm_cpu));
  std::printf("  extractor (run_extraction)  %7.1f GFLOP/s  (%.1f)   ratio %.2f  (%.2f)\n", median(e_wall),
              median(e_cpu), median(re_wall), median(re_cpu));
  std::printf("target (extractor >= 50%% of the GEMM rate, wall clock): %s\n",
              median(re_wall) >= 0.5 ? "met" : "NOT met");
  if (o.on.is_cuda()) std::printf("%s\n", sherl::peak_memory_summary(o.on).c_str());
  if (!o.keep) fs::remove_all(work);
  else std::printf("kept %s\n", work.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  sherl::use_thread_pool_settings(argv);  // OMP_WAIT_POLICY=PASSIVE, as every sherl tool
  CLI::App app{"LibTorch's GEMM GFLOP/s against the extractor's achieved GFLOP/s (a BERT-base-sized model by default)."};
  Options o;
  app.add_option("--model", o.model,
                 "Hugging Face model directory of any supported family (default: a random BERT-base, written)");
  app.add_option("--scratch", o.scratch, "directory for the random model, the input and the shards");
  app.add_option("--batch", o.batch, "examples per batch")->capture_default_str();
  app.add_option("--tokens", o.tokens, "tokens per example")->capture_default_str();
  app.add_option("--gemm", o.gemm, "GEMM size n (n x n times n x n)")->capture_default_str();
  app.add_option("--products", o.products, "GEMM products per timed GEMM block")->capture_default_str();
  app.add_option("--reps", o.reps, "timed repetitions of each measurement (median reported)")->capture_default_str();
  app.add_option("--batches", o.batches, "batches per extractor run")->capture_default_str();
  app.add_option("--late-layers", o.late_layers, "the extractor's --late-layers K")->capture_default_str();
  app.add_option("--dtype", o.dtype, "the extractor's stored dtype")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}))->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N (GEMM, model and extractor)")->capture_default_str();
  app.add_option("--precision", o.precision, "GEMM dtype and the extractor's --precision: f32, bf16, f16")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))->capture_default_str();
  app.add_option("--threads", o.threads, "LibTorch intra-op threads (0: its default), as the tools' --threads");
  app.add_flag("--keep", o.keep, "keep the scratch directory (random model, input)");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  return sherl::run_tool("extract_gflops_bench", [&] { return run(o); });
}
