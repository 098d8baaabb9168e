#include "sherl/workflows/online_input.h"

#include <unistd.h>

#include "lib/core/device.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/core/process.h"
#include "lib/core/version.h"
#include "lib/extract/cache_estimate.h"  // human_bytes
#include "lib/extract/extractor.h"       // resolve_tiers

namespace sherl {
namespace {

int64_t held_bytes(const RawExample& e) {
  int64_t bytes = static_cast<int64_t>(sizeof(RawExample));
  if (e.pixel_values.defined()) bytes += e.pixel_values.numel() * e.pixel_values.element_size();
  if (e.label.defined()) bytes += e.label.numel() * e.label.element_size();
  bytes += static_cast<int64_t>((e.input_ids.capacity() + e.token_type_ids.capacity()) * sizeof(int64_t));
  return bytes;
}

// Half of the machine's memory: past it the held examples would crowd out training itself.
int64_t held_bytes_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 2 : INT64_MAX;
}

}  // namespace

OnlineInput::OnlineInput(const OnlineInputOptions& o, torch::Device device)
    : options_(o), device_(device), plan_(plan_input(o.input)), name_(display_of(o.input)) {
  if (o.input.unlabeled || plan_.num_labels < 1) throw error_at(name_, "has no labels to train a head on");
  if (plan_.selected == 0) throw error_at(name_, "no examples to train on (empty input or nothing selected)");
  check_backbone_config(o.model_dir, o.input.tower);  // before the input is read
  if (o.tiers == "auto")
    throw Error("--tiers auto measures the tiers' redundancy on a cache (sherl-consolidate); with --input give "
                "'all' or a comma list");
  info_.backbone = backbone_identity(o.model_dir, o.input.tower);
  info_.tiers = resolve_tiers(o.tiers, info_.backbone.num_layers, o.late_layers);
  info_.late_layers = o.late_layers;
  info_.dtype = FeatureDType::F32;
  info_.label_kind = plan_.label_kind;
  info_.num_labels = plan_.num_labels;
  info_.label_names = plan_.label_names;
  info_.source_path = o.source_name.empty() ? o.input.path : o.source_name;
  info_.source_sha256 = sha256_file(o.input.path);
  info_.tool_version = SHERL_VERSION;
  if (!o.input.labels_path.empty()) labels_sha256_ = sha256_file(o.input.labels_path);
}

void OnlineInput::load(Backbone backbone) {
  backbone_ = std::move(backbone);
  const int64_t limit = held_bytes_limit();
  int64_t held = 0;
  auto source = open_source(options_.input, plan_);
  Progress progress("sherl-train: reading " + name_, plan_.selected, options_.quiet);
  examples_.clear();
  examples_.reserve(static_cast<size_t>(plan_.selected));
  RawExample example;
  while (source->next(example)) {
    held += held_bytes(example);
    if (held > limit)
      throw error_at(name_, "the online route holds the input's preprocessed examples in memory, and after " +
                                std::to_string(examples_.size()) + " of " + std::to_string(plan_.selected) +
                                " they take more than " + human_bytes(limit) +
                                " (half of this machine's memory): cache the tiers with sherl-extract and train "
                                "from them (--train)");
    examples_.push_back(std::move(example));
    progress.advance(1);
  }
  progress.finish();
  if (size() != plan_.selected)
    throw error_at(name_, "input ended after " + std::to_string(size()) + " of " + std::to_string(plan_.selected) +
                              " examples (changed while reading?)");
}

std::vector<int64_t> OnlineInput::class_labels() const {
  std::vector<int64_t> labels(examples_.size(), 0);
  if (info_.label_kind != LabelKind::Class) return labels;
  for (size_t i = 0; i < examples_.size(); ++i) labels[i] = examples_[i].label.item<int64_t>();
  return labels;
}

Batch OnlineInput::batch(const std::vector<int64_t>& positions) const {
  std::vector<RawExample> raw;
  raw.reserve(positions.size());
  for (int64_t p : positions) raw.push_back(examples_.at(static_cast<size_t>(p)));  // pixels shared; token ids copied
  ModelInputs inputs = to_device(collate(raw, backbone_->pad_token_id()), device_);
  Batch b;
  {
    torch::NoGradGuard no_grad;  // the early layers are frozen: nothing of them is kept for backward
    b.tiers = compute_tiers(*backbone_, inputs, info_.tiers).to(torch::kFloat32);
    b.mask = backbone_->token_mask(inputs);
    // Padding rows as a cached batch has them: zeros (whatever the layers left there).
    b.tiers.masked_fill_(b.mask.eq(0).view({b.mask.size(0), b.mask.size(1), 1, 1}), 0);
  }
  std::vector<torch::Tensor> labels;
  b.ids = torch::empty({static_cast<int64_t>(raw.size())}, torch::kInt64);
  int64_t* ids = b.ids.data_ptr<int64_t>();
  for (size_t i = 0; i < raw.size(); ++i) {
    labels.push_back(raw[i].label);
    ids[i] = raw[i].id;
  }
  b.labels = torch::stack(labels);
  return b;
}

bool OnlineBatches::next(Batch& out) {
  if (at_ >= positions_.size()) return false;
  const size_t end = std::min(positions_.size(), at_ + static_cast<size_t>(batch_size_));
  const std::vector<int64_t> positions(positions_.begin() + static_cast<std::ptrdiff_t>(at_),
                                       positions_.begin() + static_cast<std::ptrdiff_t>(end));
  // The early layers' forward pass is the largest allocation of an online step.
  with_out_of_memory_hint(input_.device(), batch_size_, [&] { out = input_.batch(positions); });
  at_ = end;
  return true;
}

}  // namespace sherl
