#pragma once
// Labels and row selection shared by every input format: parsing a row's label text for
// the label kind, the --select-labels / --per-label / --limit rules, the label map, and
// encoding labels as the tensors RawExample carries.
#include <torch/torch.h>

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/input/source.h"

namespace sherl {

// A row's label text as label strings: Class -> one (trimmed, non-empty); Regression -> one
// that parses as a finite number; MultiLabel -> the ','-separated labels (trimmed, empty
// ones dropped; a row may have none). Throws naming `where` otherwise.
std::vector<std::string> parse_labels(const std::string& raw, LabelKind kind, const std::string& where);

// Decides, row by row in input order, which rows are selected:
//  - select_labels (Class, MultiLabel): Class rows whose label is not listed are skipped;
//    MultiLabel rows are kept when at least one of their labels is listed.
//  - per_label (Class only): the first N rows of each label are kept.
//  - limit: the first N rows that pass the rules above are kept.
// The decision depends on the label strings only, never on the label map, so the
// pre-scan and the stream make the same decisions in one pass each.
class RowSelector {
 public:
  explicit RowSelector(const InputSpec& spec);  // throws on a rule the label kind lacks
  bool keep(const std::vector<std::string>& labels);

 private:
  LabelKind kind_;
  bool unlabeled_;
  std::set<std::string> selected_;
  int64_t per_label_, limit_, kept_ = 0;
  std::unordered_map<std::string, int64_t> per_label_counts_;
};

// The class names: select_labels in the order given (each must occur in `found`, else an
// error naming the label and `display`), or the labels found in sorted order (numerically
// when all are integers).
std::vector<std::string> label_names_for(const InputSpec& spec, const std::set<std::string>& found,
                                         const std::string& display);

// Replays the plan's selection while a source streams, and encodes the selected rows'
// labels: int64 scalar class index (Class), float32 [1] (Regression), float32 multi-hot
// [num_labels] (MultiLabel; labels outside the map are ignored).
class RowFilter {
 public:
  RowFilter(const InputSpec& spec, const InputPlan& plan, std::string display);
  // True (with `label` set) when the row whose label text is `raw` is selected. Unlabeled
  // input: `raw` is ignored, rows are kept up to the limit, and `label` is left undefined.
  bool admit(const std::string& raw, const std::string& where, torch::Tensor& label);
  // Every planned example has been admitted: the source can stop reading.
  bool done() const { return admitted_ >= plan_.selected; }
  // At the end of the input: throws when fewer rows were selected than planned (the input
  // changed after plan_input).
  void finish() const;

 private:
  InputPlan plan_;
  bool unlabeled_;
  std::string display_;
  RowSelector selector_;
  std::unordered_map<std::string, int64_t> class_of_;
  int64_t admitted_ = 0;
};

}  // namespace sherl
