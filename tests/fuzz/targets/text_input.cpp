#include "tests/fuzz/targets/text_input.h"

#include "lib/core/error.h"
#include "lib/input/source.h"
#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {

// Options byte: bits 0-1 the label kind (class, regression, multilabel, class); bit 2
// --select-labels 0,1 (not for regression); bit 3 --per-label 2 (class only); bit 4
// --limit 5; bit 5 --text-columns text_a,text_b; bit 6 a file name without extension and
// format auto (the format is sniffed from the content).
int text_input(const std::string& format, const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t options = data[0];
  const bool sniff = options & 64;
  const std::string display = sniff ? "input" : "input." + format;
  InputSpec spec;
  spec.path = write_input(scratch_subdir(format) + "/" + display, data + 1, size - 1);
  spec.display_name = display;
  spec.format = sniff ? "auto" : format;
  spec.model_dir = text_model_dir();
  spec.max_length = 16;
  const LabelKind kinds[] = {LabelKind::Class, LabelKind::Regression, LabelKind::MultiLabel, LabelKind::Class};
  spec.label_kind = kinds[options & 3];
  if ((options & 4) && spec.label_kind != LabelKind::Regression) spec.select_labels = {"0", "1"};
  if ((options & 8) && spec.label_kind == LabelKind::Class) spec.per_label = 2;
  if (options & 16) spec.limit = 5;
  if (options & 32) spec.text_columns = {"text_a", "text_b"};
  try {
    InputPlan plan = plan_input(spec);
    expect(plan.selected > 0 && plan.num_labels > 0, "a plan with no examples or no labels");
    std::unique_ptr<ExampleSource> source = open_source(spec, plan);
    RawExample ex;
    int64_t n = 0;
    while (source->next(ex)) {
      ++n;
      expect(!ex.input_ids.empty() && int64_t(ex.input_ids.size()) <= spec.max_length,
             "input_ids outside 1..max_length tokens");
      expect(ex.token_type_ids.size() == ex.input_ids.size(), "token_type_ids and input_ids differ in length");
      for (int64_t id : ex.input_ids) expect(id >= 0 && id < 64, "a token id outside the vocabulary");
      if (plan.label_kind == LabelKind::Class) {
        int64_t c = ex.label.item<int64_t>();
        expect(c >= 0 && c < plan.num_labels, "a class outside the label map");
      } else {
        expect(ex.label.numel() == plan.num_labels, "a label tensor of the wrong size");
      }
    }
    expect(n == plan.selected, "the stream yielded another number of examples than planned");
  } catch (const Error& e) {
    expect_names(e, display);
  }
  return 0;
}

int tsv(const uint8_t* data, size_t size) { return text_input("tsv", data, size); }
int jsonl(const uint8_t* data, size_t size) { return text_input("jsonl", data, size); }

}  // namespace sherl::fuzz
