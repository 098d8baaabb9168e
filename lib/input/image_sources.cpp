// IDX images (+ IDX labels) and CSV lists of image files.
#include "lib/core/error.h"
#include "lib/input/idx_reader.h"
#include "lib/input/image_decode.h"
#include "lib/input/image_list_reader.h"
#include "lib/input/image_preprocess.h"
#include "lib/input/input_formats.h"
#include "lib/input/label_selection.h"

#include <optional>

namespace sherl {
namespace {

std::string labels_display(const InputSpec& spec) {
  if (spec.labels_path.empty())
    throw error_at(display_of(spec), "IDX images need their IDX label file (--labels)");
  return spec.labels_display_name.empty() ? spec.labels_path : spec.labels_display_name;
}

std::string image_where(const std::string& display, int64_t i) {
  return display + ": image " + std::to_string(i);
}

// Opens both IDX files and checks that they describe the same number of examples.
// Unlabeled input (InputSpec::unlabeled): no label file; `labels` stays empty.
struct IdxPair {
  IdxReader images;
  std::optional<IdxReader> labels;
  int64_t height, width, channels;
  explicit IdxPair(const InputSpec& spec) : images(spec.path, display_of(spec)) {
    if (!spec.unlabeled) labels.emplace(spec.labels_path, labels_display(spec));
    const auto& d = images.dims();
    if (d.size() != 3 && !(d.size() == 4 && (d[3] == 1 || d[3] == 3 || d[3] == 4)))
      throw error_at(images.display(), "IDX images must be [N, H, W] or [N, H, W, C] with C 1, 3 or 4 (got " +
                                           std::to_string(d.size()) + " dimensions)");
    height = d[1];
    width = d[2];
    channels = d.size() == 4 ? d[3] : 1;
    if (images.count() == 0) throw error_at(images.display(), "empty input: no images");
    images.check_plain_size();
    if (!labels) return;
    if (labels->dims().size() != 1)
      throw error_at(labels->display(), "IDX labels must have 1 dimension (got " +
                                            std::to_string(labels->dims().size()) + ")");
    if (images.count() != labels->count())
      throw error_at(images.display(), std::to_string(images.count()) + " images but " + labels->display() +
                                           " has " + std::to_string(labels->count()) + " labels");
    labels->check_plain_size();
  }
  // The label of the next image as text ("" when unlabeled).
  std::string next_label() {
    if (!labels) return "";
    uint8_t label;
    labels->read(&label);
    return std::to_string(label);
  }
};

class IdxSource : public ExampleSource {
 public:
  IdxSource(const InputSpec& spec, const InputPlan& plan)
      : idx_(spec),
        filter_(spec, plan, display_of(spec)),
        preprocess_(ImagePreprocessor::from_model_dir(spec.model_dir, spec.tower)) {
    image_.height = idx_.height;
    image_.width = idx_.width;
    image_.channels = idx_.channels;
    image_.pixels.resize(size_t(idx_.images.item_bytes()));
  }

  bool next(RawExample& out) override {
    while (!filter_.done() && idx_.images.position() < idx_.images.count()) {
      int64_t i = idx_.images.position();
      std::string where = image_where(idx_.images.display(), i);
      if (!filter_.admit(idx_.next_label(), where, out.label)) {
        idx_.images.skip();
        continue;
      }
      idx_.images.read(image_.pixels.data());
      out.id = i;
      out.pixel_values = preprocess_(image_, where);
      out.input_ids.clear();
      out.token_type_ids.clear();
      return true;
    }
    filter_.finish();
    return false;
  }

 private:
  IdxPair idx_;
  RowFilter filter_;
  ImagePreprocessor preprocess_;
  Image8 image_;
};

class ImageListSource : public ExampleSource {
 public:
  ImageListSource(const InputSpec& spec, const InputPlan& plan)
      : rows_(spec.path, display_of(spec), spec.label_column),
        filter_(spec, plan, display_of(spec)),
        preprocess_(ImagePreprocessor::from_model_dir(spec.model_dir, spec.tower)) {}

  bool next(RawExample& out) override {
    while (!filter_.done() && rows_.next()) {
      if (!filter_.admit(rows_.label(), rows_.where(), out.label)) continue;
      std::string where = rows_.where() + ": " + rows_.image_path();
      out.id = rows_.index();
      out.pixel_values = preprocess_(decode_image_file(rows_.image_path(), where), where);
      out.input_ids.clear();
      out.token_type_ids.clear();
      return true;
    }
    filter_.finish();
    return false;
  }

 private:
  ImageListReader rows_;
  RowFilter filter_;
  ImagePreprocessor preprocess_;
};

}  // namespace

void scan_idx_labels(const InputSpec& spec, const LabelVisitor& visit) {
  IdxPair idx(spec);
  for (int64_t i = 0; i < idx.images.count(); ++i) visit(idx.next_label(), image_where(idx.images.display(), i));
  if (idx.labels) idx.labels->expect_end();
}

void scan_image_list_labels(const InputSpec& spec, const LabelVisitor& visit) {
  ImageListReader rows(spec.path, display_of(spec), spec.label_column);
  while (rows.next()) visit(rows.label(), rows.where());
}

std::unique_ptr<ExampleSource> open_idx_source(const InputSpec& spec, const InputPlan& plan) {
  return std::make_unique<IdxSource>(spec, plan);
}

std::unique_ptr<ExampleSource> open_image_list_source(const InputSpec& spec, const InputPlan& plan) {
  return std::make_unique<ImageListSource>(spec, plan);
}

}  // namespace sherl
