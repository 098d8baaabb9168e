#pragma once
// The online early route: sherl-train computes the tiers from a raw input with the frozen
// early layers (under no-grad), batch by batch, instead of reading them from a cache. The
// input is read once and its selected examples are held in memory as the sources make them
// (images as preprocessed float32 pixels, text as token ids), so that any seeded order
// reaches them at no cost; tiers are never held beyond the batch that uses them.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/input/source.h"
#include "lib/model/backbone.h"
#include "lib/shard/format.h"
#include "sherl/workflows/batch_loader.h"

namespace sherl {

struct OnlineInputOptions {
  std::string model_dir;
  InputSpec input;            // path a file (a caller spools stdin); model_dir and tower set
  std::string source_name;    // recorded as the source path ("-" for stdin); default input.path
  int64_t late_layers = 1;
  std::string tiers = "all";  // as sherl-extract's --tiers ("auto" needs a cache to measure)
  bool quiet = false;
};

class OnlineInput {
 public:
  // Plans the input (its labels and selection, no example read yet) and resolves the tiers.
  // Throws naming the input when it has no labels or selects nothing.
  OnlineInput(const OnlineInputOptions& options, torch::Device device);
  // What a cache of this input extracted with these tiers would record, dtype f32 (the
  // tiers are used as computed).
  const ShardSetInfo& info() const { return info_; }
  const std::string& name() const { return name_; }
  const std::string& format() const { return plan_.format; }  // resolved (never "auto")
  torch::Device device() const { return device_; }
  // The SHA-256 of the label file ("" when the input has none beside it).
  const std::string& labels_sha256() const { return labels_sha256_; }
  // Reads and preprocesses the selected examples. `backbone` is the whole backbone: its
  // early layers compute the tiers (it may be shared with the late route). Throws naming
  // the input when its examples would take more than half of the machine's memory (then a
  // cache is the way).
  void load(Backbone backbone);
  int64_t size() const { return static_cast<int64_t>(examples_.size()); }  // after load()
  // Each example's class (0 for every example of other label kinds): the strata of a
  // validation split.
  std::vector<int64_t> class_labels() const;
  // The examples at `positions` (of 0..size()-1) as a cached batch holds them: tiers
  // [B, T, N, d] float32 on the device, zeros past each example's tokens; mask, labels, ids.
  Batch batch(const std::vector<int64_t>& positions) const;

 private:
  OnlineInputOptions options_;
  torch::Device device_;
  InputPlan plan_;
  ShardSetInfo info_;
  std::string name_, labels_sha256_;
  Backbone backbone_;
  std::vector<RawExample> examples_;
};

// The examples at `positions` of an online input, in that order, batch_size at a time.
class OnlineBatches : public BatchStream {
 public:
  OnlineBatches(const OnlineInput& input, std::vector<int64_t> positions, int64_t batch_size)
      : input_(input), positions_(std::move(positions)), batch_size_(batch_size) {}
  bool next(Batch& out) override;

 private:
  const OnlineInput& input_;
  std::vector<int64_t> positions_;
  int64_t batch_size_;
  size_t at_ = 0;
};

}  // namespace sherl
