// plan_input() and open_source(): format resolution, the model/format match, the label
// pre-scan, and dispatch to the per-format readers (image_sources.cpp, text_sources.cpp).
#include "lib/input/source.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/input/idx_reader.h"
#include "lib/input/image_preprocess.h"
#include "lib/input/jsonl_reader.h"
#include "lib/input/tsv_reader.h"
#include "lib/input/input_formats.h"
#include "lib/input/label_selection.h"
#include "lib/input/line_reader.h"

namespace sherl {
namespace {

const char* const kFormats[] = {"idx", "image-csv", "tsv", "jsonl"};

bool is_image_format(const std::string& f) { return f == "idx" || f == "image-csv"; }

std::string lower_extension(std::string path) {
  std::transform(path.begin(), path.end(), path.begin(), [](unsigned char c) { return std::tolower(c); });
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) path.resize(path.size() - 3);
  size_t slash = path.rfind('/'), dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return path.substr(dot + 1);
}

// The format from the content when the name does not tell: IDX by its magic bytes, JSON
// Lines by a leading '{', TSV / CSV by the separator of the first line.
std::string sniff_format(const InputSpec& spec) {
  if (looks_like_idx(spec.path)) return "idx";
  LineReader in(spec.path, display_of(spec));
  std::string line;
  in.next(line);
  size_t first = line.find_first_not_of(" \t\xEF\xBB\xBF");
  if (first != std::string::npos && line[first] == '{') return "jsonl";
  if (line.find('\t') != std::string::npos) return "tsv";
  if (line.find(',') != std::string::npos) return "image-csv";
  throw error_at(display_of(spec), "cannot tell the input format; give it (idx, image-csv, tsv, jsonl)");
}

std::string resolve_format(const InputSpec& spec) {
  if (spec.format != "auto") {
    if (std::find(std::begin(kFormats), std::end(kFormats), spec.format) == std::end(kFormats))
      throw Error("unknown input format '" + spec.format + "' (auto, idx, image-csv, tsv, jsonl)");
    return spec.format;
  }
  if (!spec.labels_path.empty()) return "idx";
  std::string ext = lower_extension(spec.path);
  if (ext == "tsv") return "tsv";
  if (ext == "jsonl" || ext == "ndjson") return "jsonl";
  if (ext == "csv") return "image-csv";
  return sniff_format(spec);
}

// An image model (ViT) has num_channels and no vocab_size; a text model has a vocab_size.
void check_model_takes(const InputSpec& spec, const std::string& format) {
  if (spec.model_dir.empty()) return;
  const std::string file = spec.model_dir + "/config.json";
  json config = read_tower_config(spec.model_dir, spec.tower);
  const auto type = config.find("model_type");
  const BackboneFamily family = backbone_family(type != config.end() && type->is_string() ? type->get<std::string>() : "");
  // A family that sherl does not build is judged by its keys; loading the model refuses it.
  const bool image_model = family == BackboneFamily::Unknown
                               ? config.contains("num_channels") && !config.contains("vocab_size")
                               : family == BackboneFamily::Vision;
  if (image_model != is_image_format(format))
    throw error_at(display_of(spec), "a " + format + " input cannot feed " + (image_model ? "an image" : "a text") +
                                         " model (" + file + ")");
  // The preprocessing is checked now (its sizes against the model's), before any work.
  if (image_model) ImagePreprocessor::from_model_dir(spec.model_dir, spec.tower);
}

void scan_labels(const InputSpec& spec, const std::string& format, const LabelVisitor& visit) {
  if (format == "idx") return scan_idx_labels(spec, visit);
  if (format == "image-csv") return scan_image_list_labels(spec, visit);
  if (format == "tsv") return scan_tsv_labels(spec, visit);
  return scan_jsonl_labels(spec, visit);
}

}  // namespace

std::string display_of(const InputSpec& spec) {
  return spec.display_name.empty() ? spec.path : spec.display_name;
}

InputPlan plan_input(const InputSpec& spec) {
  InputPlan plan;
  plan.format = resolve_format(spec);
  plan.label_kind = spec.label_kind;
  check_model_takes(spec, plan.format);
  RowSelector selector(spec);
  std::set<std::string> found;
  int64_t rows = 0;
  scan_labels(spec, plan.format, [&](const std::string& raw, const std::string& where) {
    std::vector<std::string> labels = spec.unlabeled ? std::vector<std::string>{} : parse_labels(raw, spec.label_kind, where);
    found.insert(labels.begin(), labels.end());
    if (selector.keep(labels)) ++plan.selected;
    ++rows;
  });
  if (rows == 0) throw error_at(display_of(spec), "empty input: no examples");
  plan.label_names = label_names_for(spec, found, display_of(spec));
  plan.num_labels = spec.unlabeled ? 0 : spec.label_kind == LabelKind::Regression ? 1 : int64_t(plan.label_names.size());
  return plan;
}

bool input_has_labels(const InputSpec& spec) {
  const std::string format = resolve_format(spec);
  if (format == "idx") return !spec.labels_path.empty();
  if (format == "tsv") return TsvReader(spec.path, display_of(spec)).has_column(spec.label_column);
  if (format == "jsonl") {
    JsonlReader rows(spec.path, display_of(spec));
    return !rows.next() || rows.record().contains(spec.label_column);
  }
  return true;
}

std::unique_ptr<ExampleSource> open_source(const InputSpec& spec, const InputPlan& plan) {
  if (spec.model_dir.empty()) throw Error("open_source needs the model directory (preprocessing / vocabulary)");
  if (plan.format == "idx") return open_idx_source(spec, plan);
  if (plan.format == "image-csv") return open_image_list_source(spec, plan);
  if (plan.format == "tsv") return open_tsv_source(spec, plan);
  if (plan.format == "jsonl") return open_jsonl_source(spec, plan);
  throw Error("unknown input format '" + plan.format + "'");
}

}  // namespace sherl
