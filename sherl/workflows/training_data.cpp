#include "sherl/workflows/training_data.h"

#include <optional>

#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/input/text_encoding.h"  // resolved_max_length
#include "sherl/workflows/consolidate.h"  // stratified_validation
#include "sherl/workflows/online_input.h"

namespace sherl {
namespace {

// A cached validation set (--val) for a model of the training data's backbone and tiers.
class CachedValidation {
 public:
  CachedValidation(const std::string& dir, const ShardSetInfo& train, const std::string& train_name) : set_(dir) {
    if (set_.size() == 0) throw error_at(dir, "holds no examples to validate on");
    positions_ = check_compatible(set_, train.backbone, train.tiers, train.late_layers, train_name);
    classes_ = class_mapping(set_, train.label_names, train.num_labels, train_name);
  }
  std::vector<Outputs> run(const std::vector<AdaptedModel*>& models, int64_t batch_size, torch::Device device,
                           const SideBySide& side) {
    std::vector<Outputs> outs = run_adapted_models(models, set_, batch_size, device, positions_, side);
    for (Outputs& out : outs) apply_class_mapping(out, classes_, set_);
    return outs;
  }
  std::string manifest_sha256() const { return sha256_file(manifest_path(set_.dir())); }

 private:
  ShardSet set_;
  std::vector<int64_t> positions_, classes_;
};

class CachedData : public TrainingData {
 public:
  explicit CachedData(const TrainOptions& o) : o_(o), set_(o.train_dir), name_(o.train_dir) {
    if (set_.size() == 0) throw error_at(o.train_dir, "holds no examples to train on");
    // A CLIPModel's tower is the one the shards were extracted from.
    tower_ = tower_of(set_.info().backbone.model_type);
    backbone_id_ = backbone_identity(o.model_dir, tower_);
    check_compatible(set_, backbone_id_, set_.info().tiers, set_.info().late_layers, "--model " + o.model_dir);
    if (!o.val_dir.empty()) val_.emplace(o.val_dir, set_.info(), "the training shards " + o.train_dir);
  }
  const ShardSetInfo& info() const override { return set_.info(); }
  const std::string& name() const override { return name_; }
  json identity() const override {
    return {{"train", o_.train_dir}, {"val", o_.val_dir}, {"backbone", to_json(backbone_id_)},
            {"train_manifest_sha256", sha256_file(manifest_path(o_.train_dir))},
            {"val_manifest_sha256", val_ ? val_->manifest_sha256() : ""}};
  }
  // Only what the late route runs: the cache stands for the early layers and embeddings.
  Backbone load() override {
    return load_backbone(o_.model_dir, o_.device, tower_, BackboneScope{set_.info().late_layers, o_.precision});
  }
  int64_t size() const override { return set_.size(); }
  std::unique_ptr<BatchStream> epoch(uint64_t seed, int64_t batch_size) override {
    return std::make_unique<BatchLoader>(set_, shuffled_plan(set_, seed, batch_size, o_.shuffle_buffer_bytes),
                                         batch_size, queue_depth(set_, batch_size), o_.device.is_cuda());
  }
  void check_finite(const Batch& batch) const override { sherl::check_finite(set_, batch); }
  bool has_validation() const override { return val_.has_value(); }
  std::vector<Outputs> validate(const std::vector<AdaptedModel*>& models, int64_t batch_size,
                                const SideBySide& side) override {
    return val_->run(models, batch_size, o_.device, side);
  }

 private:
  const TrainOptions& o_;
  ShardSet set_;
  std::string name_;
  Tower tower_ = Tower::Whole;
  BackboneIdentity backbone_id_;
  std::optional<CachedValidation> val_;
};

// The raw input's examples split as sherl-consolidate splits a cache of them: the same
// stratified positions go to validation, the rest train in input order.
class OnlineData : public TrainingData {
 public:
  explicit OnlineData(const TrainOptions& o) : o_(o), input_(o.online_input, o.device) {
    if (!(o.val_fraction >= 0 && o.val_fraction < 1))
      throw Error("--val-fraction " + std::to_string(o.val_fraction) + ": must be in [0, 1)");
    if (o.val_fraction > 0 && !o.val_dir.empty())
      throw Error("--val-fraction and --val both name validation data: give one");
    if (!o.val_dir.empty()) val_.emplace(o.val_dir, input_.info(), "the training input " + input_.name());
  }
  const ShardSetInfo& info() const override { return input_.info(); }
  const std::string& name() const override { return input_.name(); }
  json identity() const override {
    const InputSpec& in = o_.online_input.input;
    return {{"input", input_.info().source_path},
            {"labels", in.labels_display_name.empty() ? in.labels_path : in.labels_display_name},
            {"backbone", to_json(input_.info().backbone)},
            {"input_sha256", input_.info().source_sha256},
            {"labels_sha256", input_.labels_sha256()},
            {"selection",
             {{"format", input_.format()}, {"tower", to_string(in.tower)}, {"select_labels", in.select_labels},
              {"per_label", in.per_label}, {"limit", in.limit}, {"text_columns", in.text_columns},
              {"label_column", in.label_column}, {"max_length", resolved_max_length(in)},
              {"template", in.text_template}}},
            {"tiers", input_.info().tiers},
            {"late_layers", input_.info().late_layers},
            {"val_fraction", o_.val_fraction},
            {"split_seed", o_.split_seed},
            {"val", o_.val_dir},
            {"val_manifest_sha256", val_ ? val_->manifest_sha256() : ""}};
  }
  // The whole backbone: its early layers compute the tiers, its late ones are the late route.
  Backbone load() override {
    Backbone backbone = load_backbone(o_.model_dir, o_.device, o_.online_input.input.tower, BackboneScope{0, o_.precision});
    input_.load(backbone);
    std::vector<bool> in_val(static_cast<size_t>(input_.size()), false);
    if (o_.val_fraction > 0)
      for (int64_t p : stratified_validation(input_.class_labels(), o_.val_fraction, o_.split_seed)) {
        in_val[static_cast<size_t>(p)] = true;
        val_positions_.push_back(p);
      }
    for (int64_t p = 0; p < input_.size(); ++p)
      if (!in_val[static_cast<size_t>(p)]) train_positions_.push_back(p);
    if (train_positions_.empty()) throw error_at(input_.name(), "leaves no example to train on after the validation split");
    if (o_.val_fraction > 0 && val_positions_.empty())
      throw error_at(input_.name(), "--val-fraction " + std::to_string(o_.val_fraction) +
                                        " leaves no example to validate on (every class keeps one to train on): "
                                        "give a larger fraction, or none");
    return backbone;
  }
  int64_t size() const override { return static_cast<int64_t>(train_positions_.size()); }
  std::unique_ptr<BatchStream> epoch(uint64_t seed, int64_t batch_size) override {
    std::vector<int64_t> order = train_positions_;
    seeded_shuffle(order, seed);
    return std::make_unique<OnlineBatches>(input_, std::move(order), batch_size);
  }
  void check_finite(const Batch& batch) const override {
    if (const std::optional<int64_t> id = first_non_finite_example(batch))
      throw error_at(input_.name(), "example " + std::to_string(*id) + ": the early layers' tiers hold NaN or infinite values");
  }
  bool has_validation() const override { return val_.has_value() || !val_positions_.empty(); }
  std::vector<Outputs> validate(const std::vector<AdaptedModel*>& models, int64_t batch_size,
                                const SideBySide& side) override {
    if (val_) return val_->run(models, batch_size, o_.device, side);
    OnlineBatches batches(input_, val_positions_, batch_size);
    return run_adapted_models(models, batches, o_.device, [&](const Batch& b) { check_finite(b); },
                              input_.name() + " (its validation part)", side);
  }

 private:
  const TrainOptions& o_;
  OnlineInput input_;
  std::optional<CachedValidation> val_;
  std::vector<int64_t> train_positions_, val_positions_;
};

}  // namespace

std::unique_ptr<TrainingData> open_training_data(const TrainOptions& o) {
  if (o.online) return std::make_unique<OnlineData>(o);
  return std::make_unique<CachedData>(o);
}

bool is_data_path_key(const std::string& key) {
  return key == "train" || key == "val" || key == "input" || key == "labels";
}

}  // namespace sherl
