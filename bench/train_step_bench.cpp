// Where an epoch of sherl-train goes: the batch loader alone (read, decompress, convert,
// shuffle), the training step alone on batches already in memory, and, with --profile, the
// LibTorch operators that the step spends its time in. Same model, optimizer and batch
// order as sherl-train's defaults.
//
//   train_step_bench --model DIR --train SHARDS [--batch-size 64] [--steps 0 (an epoch)]
//                    [--repeat 1] [--threads 0] [--blas-pool] [--profile] [--device cpu|cuda] [--precision f32|bf16]
// On a GPU the batches are copied to it before the timing, and the peak GPU memory of the
// steps is printed.
#include <CLI/CLI.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "lib/core/device.h"
#include "lib/core/runtime.h"
#include "lib/model/backbone.h"
#include "lib/shard/shard.h"
#include "sherl/method/adapted_model.h"
#include "sherl/workflows/batch_loader.h"
#include "sherl/kernels/fused_adamw.h"
#include "sherl/kernels/row_parallel_linear.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Self CPU time per operator name, from the legacy profiler's event lists.
void print_profile(const torch::autograd::profiler::thread_event_lists& lists, int steps) {
  std::map<std::string, std::pair<double, int64_t>> self_us;  // name -> (us, calls)
  for (const auto& events : lists) {
    std::vector<const torch::autograd::profiler::LegacyEvent*> stack;
    for (const auto& e : events) {
      if (e.kindStr() == "push") {
        stack.push_back(&e);
      } else if (e.kindStr() == "pop" && !stack.empty()) {
        const auto* start = stack.back();
        stack.pop_back();
        const double us = start->cpuElapsedUs(e);
        auto& entry = self_us[start->name()];
        entry.first += us;
        entry.second += 1;
        if (!stack.empty()) self_us[stack.back()->name()].first -= us;  // not self time of the parent
      }
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(self_us.begin(), self_us.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double total_us = 0;
  for (const auto& r : rows) total_us += r.second.first;
  std::printf("\nall operators: %.2f ms per step (self time, summed over threads)\n", total_us / 1000.0 / steps);
  std::printf("\n| operator | self ms per step | calls per step |\n|---|---:|---:|\n");
  for (size_t i = 0; i < std::min<size_t>(rows.size(), 40); ++i)
    std::printf("| %s | %.2f | %.1f |\n", rows[i].first.c_str(), rows[i].second.first / 1000.0 / steps,
                static_cast<double>(rows[i].second.second) / steps);
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  sherl::use_thread_pool_settings(argv);
  CLI::App app{"Time an epoch of sherl-train by part: loading, stepping, operators"};
  std::string model_dir, train_dir;
  int64_t batch_size = 64, steps = 0;
  int threads = 0, repeat = 1;
  bool profile = false, blas_pool = false;
  std::string device_spec = "cpu", precision_spec = "f32";
  app.add_option("--model", model_dir, "model directory")->required();
  app.add_option("--train", train_dir, "training shard set")->required();
  app.add_option("--batch-size", batch_size, "examples per step");
  app.add_option("--steps", steps, "steps to time (0: one epoch)");
  app.add_option("--repeat", repeat, "time the steps this many times; prints the fastest and the median")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "LibTorch threads (0: sherl's default)");
  app.add_flag("--blas-pool", blas_pool, "keep OpenBLAS's own threads (sherl-train runs it single-threaded)");
  app.add_flag("--profile", profile, "print the operators' self time per step (CPU)");
  app.add_option("--device", device_spec, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", precision_spec, "the late layers' precision, as sherl-train's")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  sherl::set_threads(threads);
  if (!blas_pool) sherl::use_single_threaded_blas();
  const torch::Device device = sherl::parse_device(device_spec);
  const torch::ScalarType precision = sherl::parse_precision(precision_spec, device);

  sherl::ShardSet set(train_dir);
  const auto& info = set.info();
  auto plan = [&] { return sherl::shuffled_plan(set, 1, batch_size, size_t{256} << 20); };

  auto t0 = Clock::now();
  std::vector<sherl::Batch> batches;
  {
    sherl::BatchLoader loader(set, plan(), batch_size);
    sherl::Batch b;
    while (loader.next(b) && (steps == 0 || static_cast<int64_t>(batches.size()) < steps))
      batches.push_back({b.tiers.to(device), b.mask.to(device), b.labels.to(device), b.ids});
  }
  const double load_s = seconds_since(t0);
  const int n = static_cast<int>(batches.size());

  torch::manual_seed(0);
  auto late_route = std::make_shared<sherl::LateRoute>(sherl::load_backbone(model_dir, device), info.late_layers,
                                                       precision);
  sherl::MtsaOptions mtsa;
  mtsa.num_tiers = static_cast<int64_t>(info.tiers.size());
  mtsa.hidden_size = info.backbone.hidden_size;
  sherl::AdaptedModel model(sherl::Method::Sherl, mtsa, info.num_labels, late_route);
  model->to(device);
  model->train();
  sherl::FusedAdamW optimizer(model->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0.01));
  auto step = [&](const sherl::Batch& b) {
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(b.tiers, b.mask), b.labels);
    loss.backward();
    sherl::clip_grad_norm(model->parameters(), 1.0);
    optimizer.step();
  };
  step(batches[0]);  // warm-up
  if (device.is_cuda()) torch::cuda::synchronize();
  sherl::reset_peak_device_memory(device);
  // The machine's speed drifts (shared cores): the fastest of several passes is the
  // steadiest estimate, the median says how far the others were.
  std::vector<double> pass_s;
  for (int r = 0; r < repeat; ++r) {
    auto t1 = Clock::now();
    for (const auto& b : batches) step(b);
    if (device.is_cuda()) torch::cuda::synchronize();
    pass_s.push_back(seconds_since(t1));
  }
  std::sort(pass_s.begin(), pass_s.end());
  const double step_s = pass_s.front(), median_s = pass_s[pass_s.size() / 2];

  std::printf("threads %d, %d steps of %lld examples\n", at::get_num_threads(), n, static_cast<long long>(batch_size));
  std::printf("loader alone: %.2f s (%.1f ms per batch)\n", load_s, 1000 * load_s / n);
  std::printf("steps alone:  %.2f s (%.1f ms per step) on %s, late layers in %s", step_s, 1000 * step_s / n,
              device.str().c_str(), precision_spec.c_str());
  if (repeat > 1) std::printf("; fastest of %d passes, median %.2f s", repeat, median_s);
  std::printf("\n");
  std::printf("%s\n", sherl::peak_memory_summary(device).c_str());
  if (profile && !device.is_cuda()) {
    const int profiled = std::min(n, 10);
    torch::autograd::profiler::enableProfilerLegacy(
        torch::autograd::profiler::ProfilerConfig(torch::autograd::profiler::ProfilerState::CPU));
    for (int i = 0; i < profiled; ++i) step(batches[i]);
    print_profile(torch::autograd::profiler::disableProfilerLegacy(), profiled);
  }
  return 0;
}
