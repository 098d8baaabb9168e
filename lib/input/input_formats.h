#pragma once
// Per-format halves of plan_input() and open_source() (source.cpp dispatches on the
// resolved format): a label-only scan of every row, and the streaming source.
#include <functional>
#include <memory>
#include <string>

#include "lib/input/source.h"

namespace sherl {

// Called once per row, in input order, with the row's raw label text and its location
// ("file:line" or "file: image i") for messages.
using LabelVisitor = std::function<void(const std::string& raw_label, const std::string& where)>;

void scan_idx_labels(const InputSpec& spec, const LabelVisitor& visit);
void scan_image_list_labels(const InputSpec& spec, const LabelVisitor& visit);
void scan_tsv_labels(const InputSpec& spec, const LabelVisitor& visit);
void scan_jsonl_labels(const InputSpec& spec, const LabelVisitor& visit);

std::unique_ptr<ExampleSource> open_idx_source(const InputSpec& spec, const InputPlan& plan);
std::unique_ptr<ExampleSource> open_image_list_source(const InputSpec& spec, const InputPlan& plan);
std::unique_ptr<ExampleSource> open_tsv_source(const InputSpec& spec, const InputPlan& plan);
std::unique_ptr<ExampleSource> open_jsonl_source(const InputSpec& spec, const InputPlan& plan);

}  // namespace sherl
