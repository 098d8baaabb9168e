// TSV and JSON Lines text, tokenised with the model's vocabulary or pre-tokenised.
#include "lib/core/error.h"
#include "lib/input/input_formats.h"
#include "lib/input/jsonl_reader.h"
#include "lib/input/label_selection.h"
#include "lib/input/text_encoding.h"
#include "lib/input/tsv_reader.h"

#include <optional>

namespace sherl {
namespace {

// Which text field(s) a row uses: the ones asked for, else GLUE's "sentence1"/"sentence2"
// when `has` finds "sentence1", else "sentence".
template <typename Has>
std::vector<std::string> text_fields(const InputSpec& spec, Has has) {
  if (!spec.text_columns.empty()) {
    if (spec.text_columns.size() > 2)
      throw Error("--text-columns takes one column, or two for sentence pairs (got " +
                  std::to_string(spec.text_columns.size()) + ")");
    return spec.text_columns;
  }
  if (has("sentence1")) return {"sentence1", "sentence2"};
  return {"sentence"};
}

// A JSON label value as label text: strings as they are, numbers as written, a list
// (multi-label) joined with ','.
std::string json_label_text(const json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) out += (out.empty() ? "" : ",") + json_label_text(item, where);
    return out;
  }
  throw error_at(where, "the label must be a string, a number or a list");
}

std::string record_label(const json& record, const std::string& column, const std::string& where) {
  auto it = record.find(column);
  if (it == record.end()) throw error_at(where, "no '" + column + "' field");
  return json_label_text(*it, where);
}

const std::string& record_text(const json& record, const std::string& field, const std::string& where) {
  auto it = record.find(field);
  if (it == record.end()) throw error_at(where, "no '" + field + "' field (text)");
  if (!it->is_string()) throw error_at(where, "field '" + field + "' is not a string");
  return it->get_ref<const std::string&>();
}

class TsvSource : public ExampleSource {
 public:
  TsvSource(const InputSpec& spec, const InputPlan& plan)
      : rows_(spec.path, display_of(spec)),
        filter_(spec, plan, display_of(spec)),
        encoder_(spec.model_dir, spec.max_length, spec.text_template, spec.tower) {
    encoder_.require_tokenizer(display_of(spec));
    if (!spec.unlabeled) label_col_ = rows_.column(spec.label_column);
    for (const auto& name : text_fields(spec, [&](const std::string& c) { return rows_.has_column(c); }))
      text_cols_.push_back(rows_.column(name));
  }

  bool next(RawExample& out) override {
    while (!filter_.done() && rows_.next()) {
      if (!filter_.admit(label_col_ ? rows_.field(*label_col_) : std::string(), rows_.where(), out.label)) continue;
      out.id = rows_.index();
      const std::string* second = text_cols_.size() == 2 ? &rows_.field(text_cols_[1]) : nullptr;
      encoder_.encode_text(rows_.field(text_cols_[0]), second, rows_.where(), out);
      out.pixel_values = torch::Tensor();
      return true;
    }
    filter_.finish();
    return false;
  }

 private:
  TsvReader rows_;
  RowFilter filter_;
  TextEncoder encoder_;
  std::optional<size_t> label_col_;  // none when unlabeled
  std::vector<size_t> text_cols_;
};

class JsonlSource : public ExampleSource {
 public:
  JsonlSource(const InputSpec& spec, const InputPlan& plan)
      : spec_(spec), rows_(spec.path, display_of(spec)), filter_(spec, plan, display_of(spec)),
        encoder_(spec.model_dir, spec.max_length, spec.text_template, spec.tower) {}

  bool next(RawExample& out) override {
    while (!filter_.done() && rows_.next()) {
      const json& r = rows_.record();
      std::string where = rows_.where();
      std::string label = spec_.unlabeled ? std::string() : record_label(r, spec_.label_column, where);
      if (!filter_.admit(label, where, out.label)) continue;
      out.id = rows_.index();
      encode(r, where, out);
      out.pixel_values = torch::Tensor();
      return true;
    }
    filter_.finish();
    return false;
  }

 private:
  void encode(const json& r, const std::string& where, RawExample& out) const {
    auto ids = r.find("input_ids");
    if (ids != r.end()) {
      auto types = r.find("token_type_ids");
      encoder_.encode_ids(*ids, types == r.end() ? nullptr : &*types, where, out);
      return;
    }
    encoder_.require_tokenizer(where);
    auto fields = text_fields(spec_, [&](const std::string& f) { return r.contains(f); });
    const std::string& a = record_text(r, fields[0], where);
    if (fields.size() == 2) {
      encoder_.encode_text(a, &record_text(r, fields[1], where), where, out);
    } else {
      encoder_.encode_text(a, nullptr, where, out);
    }
  }

  InputSpec spec_;
  JsonlReader rows_;
  RowFilter filter_;
  TextEncoder encoder_;
};

}  // namespace

void scan_tsv_labels(const InputSpec& spec, const LabelVisitor& visit) {
  TsvReader rows(spec.path, display_of(spec));
  std::optional<size_t> label_col;
  if (!spec.unlabeled) label_col = rows.column(spec.label_column);
  for (const auto& name : text_fields(spec, [&](const std::string& c) { return rows.has_column(c); }))
    rows.column(name);  // a missing text column is an error now, not after the scan
  if (!spec.model_dir.empty())
    TextEncoder(spec.model_dir, spec.max_length, spec.text_template, spec.tower).require_tokenizer(display_of(spec));
  while (rows.next()) visit(label_col ? rows.field(*label_col) : std::string(), rows.where());
}

void scan_jsonl_labels(const InputSpec& spec, const LabelVisitor& visit) {
  JsonlReader rows(spec.path, display_of(spec));
  while (rows.next())
    visit(spec.unlabeled ? std::string() : record_label(rows.record(), spec.label_column, rows.where()), rows.where());
}

std::unique_ptr<ExampleSource> open_tsv_source(const InputSpec& spec, const InputPlan& plan) {
  return std::make_unique<TsvSource>(spec, plan);
}

std::unique_ptr<ExampleSource> open_jsonl_source(const InputSpec& spec, const InputPlan& plan) {
  return std::make_unique<JsonlSource>(spec, plan);
}

}  // namespace sherl
