#pragma once
// Raw inputs for the backbones: IDX images (plain or gzip) with an IDX label file, a CSV
// list of image files (path,label; PNG or JPEG), TSV text with a header, and JSON Lines
// text (or pre-tokenised `input_ids`). Images are preprocessed as the model's
// preprocessor_config.json says; text is tokenised with the model's WordPiece vocab.txt.
// Sources stream: memory is bounded by one example, never by the input.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/model/backbone.h"  // ModelInputs
#include "lib/core/types.h"     // LabelKind

namespace sherl {

constexpr int64_t kDefaultMaxLength = 128;

struct InputSpec {
  std::string path;                       // a file (stdin is spooled to a file by the caller)
  std::string display_name;               // what messages call it ("-" for stdin); default: path
  std::string labels_path;                // IDX label file (--labels), required for IDX images
  std::string labels_display_name;        // what messages call it; default: labels_path
  std::string format = "auto";            // auto | idx | image-csv | tsv | jsonl
  std::string model_dir;                  // config.json, preprocessor_config.json, vocab.txt, ...
  Tower tower = Tower::Whole;             // a CLIPModel's text or vision tower (types.h)
  std::vector<std::string> text_columns;  // TSV/JSONL text field(s): one, or two for pairs;
                                          // default "sentence" or "sentence1,sentence2"
  std::string label_column = "label";
  LabelKind label_kind = LabelKind::Class;
  // Text: truncation length including special tokens; 0: kDefaultMaxLength, or the model's
  // limit when lower (CLIP's 77).
  int64_t max_length = 0;
  // Text: the text columns joined into one text, "{a}" and "{b}" standing for them ("" = each
  // model's own way: BERT takes pairs as they are; T5 joins them, see text_encoding.h).
  std::string text_template;
  // Row selection: rows whose label is not selected are skipped; a selected label that never
  // occurs is an error. Classes are remapped to 0..C-1 in the order given (or, without
  // --select-labels, in sorted order of the labels found: numerically when all are integers).
  std::vector<std::string> select_labels;
  bool require_selected_labels = true;    // false: a selected label may be absent from the input
  // No labels are read (an IDX input without --labels, a TSV or JSON Lines input without the
  // label column): every row is kept up to `limit`, and examples carry no label.
  bool unlabeled = false;
  int64_t per_label = -1;                 // keep the first N rows of each label (file order)
  int64_t limit = -1;                     // keep the first N selected rows
};

// What a cheap pre-scan of the labels finds (no images decoded, no text tokenised), so that
// every partition of a --shard i/N run agrees on the label map and the partition bounds.
struct InputPlan {
  std::string format;                     // resolved format
  LabelKind label_kind = LabelKind::Class;
  std::vector<std::string> label_names;   // class c = label_names[c] (Class, MultiLabel)
  int64_t num_labels = 0;
  int64_t selected = 0;                   // number of examples the source will yield
};

struct RawExample {
  int64_t id = 0;                         // index of the row/image in the source input
  torch::Tensor label;                    // int64 scalar (Class) or float32 [num_labels]; undefined when unlabeled
  torch::Tensor pixel_values;             // images: [C, H, W] float32, preprocessed
  std::vector<int64_t> input_ids;         // text
  std::vector<int64_t> token_type_ids;
};

class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  // Next selected example, in input order; false at the end. Throws sherl::Error naming the
  // file and line / record on malformed input.
  virtual bool next(RawExample& out) = 0;
};

// Throws naming the file when the input is malformed or empty; a selection that keeps
// nothing gives plan.selected == 0, for the caller to explain.
InputPlan plan_input(const InputSpec& spec);
// Whether the input carries labels: an IDX input has a --labels file, a TSV header or the
// first JSON Lines record has the label column. Image CSV rows always do.
bool input_has_labels(const InputSpec& spec);
// What messages call the input: its display_name, else its path.
std::string display_of(const InputSpec& spec);
std::unique_ptr<ExampleSource> open_source(const InputSpec& spec, const InputPlan& plan);

// Stacks images / pads text (with the config's pad_token_id) into a batch on the CPU.
ModelInputs collate(const std::vector<RawExample>& batch, int64_t pad_token_id);

}  // namespace sherl
