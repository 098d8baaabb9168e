// sherl-eval: evaluate a trained adapter on a shard set; metrics as JSON on stdout.
#include <CLI/CLI.hpp>

#include <iostream>

#include "lib/core/cli.h"
#include "lib/core/device.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "sherl/workflows/evaluation_report.h"
#include "sherl/kernels/row_parallel_linear.h"

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Evaluate a trained SHERL adapter on a shard set; metrics as JSON on stdout."};
  app.set_version_flag("--version", std::string("sherl-eval ") + SHERL_VERSION);
  std::string adapter, model, data, predictions;
  int64_t batch_size = 256;
  sherl::ComputeOptions compute;
  app.add_option("--adapter", adapter, "adapter directory written by sherl-train")->required();
  app.add_option("--model", model, "the Hugging Face model directory of the backbone")->required();
  app.add_option("--data", data, "shard set to evaluate on")->required();
  app.add_option("--predictions", predictions, "also write one TSV row per example id: prediction and scores");
  app.add_option("--batch-size", batch_size, "examples per forward pass")->capture_default_str();
  sherl::add_compute_options(app, compute);
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);

  return sherl::run_tool("sherl-eval", [&] {
    sherl::set_threads(compute.threads);
    sherl::use_single_threaded_blas();  // the MTSA's products run on LibTorch's threads
    torch::Device on = sherl::parse_device(compute.device);
    sherl::json metrics = sherl::evaluate_adapter(adapter, model, data, predictions, batch_size, on);
    std::cout << metrics.dump(2) << "\n";
    if (on.is_cuda()) std::cerr << "sherl-eval: " << sherl::peak_memory_summary(on) << "\n";
    return 0;
  });
}
