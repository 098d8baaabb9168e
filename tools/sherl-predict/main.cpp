// sherl-predict: run an adapted model end to end on raw inputs; one prediction per line.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "lib/core/cli.h"
#include "lib/core/device.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/input/input_options.h"
#include "lib/input/spool.h"
#include "sherl/workflows/raw_prediction.h"

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Run an adapted model (backbone + SHERL adapter) on raw inputs; TSV predictions on stdout."};
  app.set_version_flag("--version", std::string("sherl-predict ") + SHERL_VERSION);
  sherl::PredictOptions o;
  std::string input, spool_dir = "/tmp";
  sherl::ComputeOptions compute;
  bool no_header = false;
  app.add_option("--adapter", o.adapter_dir, "adapter directory written by sherl-train")->required();
  app.add_option("--model", o.model_dir, "the Hugging Face model directory of the backbone")->required();
  CLI::Option* label_column = sherl::add_raw_input_options(app, input, o.input);
  app.get_option("--input")->required();
  app.add_option("--limit", o.input.limit, "predict only the first N examples")->check(sherl::at_least(1));
  app.add_option("--batch-size", o.batch_size, "examples per forward pass")->check(sherl::at_least(1))
      ->capture_default_str();
  sherl::add_compute_options(app, compute);
  app.add_option("--spool-dir", spool_dir, "where standard input is spooled")->capture_default_str();
  app.add_flag("--no-header", no_header, "no header line");
  app.add_flag("--no-labels", o.ignore_labels, "predict every row: read no labels, select nothing");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);

  return sherl::run_tool("sherl-predict", [&] {
    sherl::set_threads(compute.threads);
    o.device = sherl::parse_device(compute.device);
    o.header = !no_header;
    o.labels_required = label_column->count() > 0 && !o.ignore_labels;  // a column named on purpose must be there
    if (o.ignore_labels) o.input.labels_path.clear();  // not read, so not spooled either
    // Read twice (a label pre-scan, then the examples): stdin and pipes are spooled first.
    sherl::InputSpools spools = sherl::prepare_input_files(input, o.input, spool_dir);
    sherl::predict_raw(o, std::cout);
    if (o.device.is_cuda()) std::cerr << "sherl-predict: " << sherl::peak_memory_summary(o.device) << "\n";
    return 0;
  });
}
