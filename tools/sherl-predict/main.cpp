// sherl-predict: run an adapted model end to end on raw inputs; one prediction per line.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "lib/core/cli.h"
#include "lib/core/error.h"
#include "lib/core/device.h"
#include "lib/core/runtime.h"
#include "lib/core/version.h"
#include "lib/input/spool.h"
#include "sherl/workflows/raw_prediction.h"

int main(int argc, char** argv) {
  sherl::prepare_process();
  CLI::App app{"Run an adapted model (backbone + SHERL adapter) on raw inputs; TSV predictions on stdout."};
  app.set_version_flag("--version", std::string("sherl-predict ") + SHERL_VERSION);
  sherl::PredictOptions o;
  std::string input, device = "auto", spool_dir = "/tmp";
  int threads = 0;
  bool no_header = false;
  app.add_option("--adapter", o.adapter_dir, "adapter directory written by sherl-train")->required();
  app.add_option("--model", o.model_dir, "the Hugging Face model directory of the backbone")->required();
  app.add_option("--input", input, "input file as for sherl-extract; '-' for stdin")->required();
  app.add_option("--labels", o.input.labels_path, "IDX label file for IDX images");
  app.add_option("--format", o.input.format, "input format")
      ->check(CLI::IsMember({"auto", "idx", "image-csv", "tsv", "jsonl"}));
  app.add_option("--text-columns", o.input.text_columns, "text column(s) of TSV/JSONL input")->delimiter(',');
  auto* label_column = app.add_option("--label-column", o.input.label_column, "label column of TSV/JSONL/CSV input")
                           ->capture_default_str();
  app.add_option("--max-length", o.input.max_length, "text: tokens per example")->capture_default_str();
  app.add_option("--limit", o.input.limit, "predict only the first N examples")->check(sherl::at_least(1));
  app.add_option("--batch-size", o.batch_size, "examples per forward pass")->check(sherl::at_least(1))
      ->capture_default_str();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads of LibTorch (0: OMP_NUM_THREADS, else one per core)");
  app.add_option("--spool-dir", spool_dir, "where standard input is spooled")->capture_default_str();
  app.add_flag("--no-header", no_header, "no header line");
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  sherl::use_thread_pool_settings(argv);

  return sherl::run_tool("sherl-predict", [&] {
    sherl::set_threads(threads);
    o.device = sherl::parse_device(device);
    o.header = !no_header;
    o.labels_required = label_column->count() > 0;  // a column named on purpose must be there
    if (input == "-" && o.input.labels_path == "-") throw sherl::Error("--input and --labels cannot both be standard input");
    // Read twice (a label pre-scan, then the examples): stdin and pipes are spooled first.
    std::unique_ptr<sherl::SpooledInput> input_spool, labels_spool;
    o.input.path = sherl::spooled_if_needed(input, spool_dir, "input", input_spool);
    o.input.display_name = input == "-" ? "<stdin>" : input;
    o.input.labels_display_name = o.input.labels_path;
    o.input.labels_path = sherl::spooled_if_needed(o.input.labels_path, spool_dir, "labels", labels_spool);
    sherl::predict_raw(o, std::cout);
    if (o.device.is_cuda()) std::cerr << "sherl-predict: " << sherl::peak_memory_summary(o.device) << "\n";
    return 0;
  });
}
