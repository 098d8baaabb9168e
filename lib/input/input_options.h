#pragma once
// The command-line options that describe a raw input, declared once for every tool that
// reads one (sherl-extract, sherl-predict): a new input option reaches them all. Header-only,
// since only tools link CLI11.
#include <CLI/CLI.hpp>

#include <string>

#include "lib/core/cli.h"  // at_least

#include "lib/input/source.h"

namespace sherl {

// --input, --labels, --format, --text-columns, --label-column and --max-length into `spec`
// (--input into `input`, to be spooled or not: lib/input/spool.h). Returns --label-column,
// so that a tool can tell whether it was given.
inline CLI::Option* add_raw_input_options(CLI::App& app, std::string& input, InputSpec& spec) {
  app.add_option("--input", input, "input file: IDX images, image CSV, TSV or JSON Lines; '-' for stdin");
  app.add_option("--labels", spec.labels_path, "IDX label file for IDX images");
  app.add_option("--format", spec.format, "input format")->check(CLI::IsMember({"auto", "idx", "image-csv", "tsv", "jsonl"}));
  app.add_option("--text-columns", spec.text_columns, "text column(s) of TSV/JSONL input (one, or two for pairs)")
      ->delimiter(',');
  CLI::Option* label_column =
      app.add_option("--label-column", spec.label_column, "label column of TSV/JSONL/CSV input")->capture_default_str();
  app.add_option("--max-length", spec.max_length,
                 "text: tokens per example, special tokens included (default: 128, or the model's limit when lower, "
                 "e.g. CLIP's 77)");
  app.add_option("--template", spec.text_template,
                 "text: join the text column(s) into one text, {a} and {b} standing for them "
                 "(default for pairs of models without token types, T5 and the decoders: "
                 "'sentence1: {a} sentence2: {b}')");
  return label_column;
}

// --select-labels, --per-label and --limit: which rows of the input become examples.
inline void add_selection_options(CLI::App& app, InputSpec& spec) {
  // A comma list checked item by item ("5,,6" is refused), not CLI11's delimiter, which drops
  // empty items.
  app.add_option_function<std::vector<std::string>>(
         "--select-labels", [&spec](const std::vector<std::string>& lists) { spec.select_labels = comma_items(lists); },
         "keep only these labels, remapped to 0..C-1 in this order")
      ->check(comma_list_of<std::string>());
  app.add_option("--per-label", spec.per_label, "keep the first N examples of each label")->check(at_least(1));
  app.add_option("--limit", spec.limit, "keep the first N selected examples")->check(at_least(1));
}

}  // namespace sherl
