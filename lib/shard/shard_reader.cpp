// ShardReader: a validated ShardFile whose examples are read into tensors.
#include <algorithm>

#include "lib/core/error.h"
#include "lib/core/float16.h"
#include "lib/shard/shard.h"
#include "lib/shard/stored_values.h"

namespace sherl {
namespace {

// The labels as one tensor: int64 [n] (classes) or float32 [n, num_labels].
torch::Tensor label_tensor(const ShardFile& file) {
  const int64_t n = file.size();
  if (file.info().label_kind == LabelKind::Class)
    return torch::tensor(file.class_labels(), torch::kInt64).reshape({n});
  return torch::tensor(file.label_values(), torch::kFloat32).reshape({n, file.info().num_labels});
}

}  // namespace

ShardReader::ShardReader(const std::string& path) : ShardReader(ShardFile(path)) {}

ShardReader::ShardReader(ShardFile file) : file_(std::move(file)), labels_(label_tensor(file_)) {}

ShardExample ShardReader::read(int64_t i) const {
  num_tokens(i);  // range check
  auto examples = read_range(i, i + 1);
  return std::move(examples[0]);
}

std::vector<ShardExample> ShardReader::read_range(int64_t begin, int64_t end, bool stored_dtype) const {
  const int64_t rows = file_.token_rows(begin, end);
  std::vector<ShardExample> out;
  if (begin == end) return out;
  const auto& offsets = file_.offsets();
  const int64_t first = offsets[begin];
  const ShardSetInfo& info = file_.info();
  const auto tiers = static_cast<int64_t>(info.tiers.size());
  torch::Tensor raw = torch::empty({rows, tiers, info.backbone.hidden_size}, torch_dtype(info.dtype));
  file_.read_features(begin, end, raw.data_ptr());
  torch::Tensor scales;
  if (info.dtype == FeatureDType::I8) {
    scales = torch::empty({rows, tiers}, torch::kFloat32);
    file_.read_scales(begin, end, scales.data_ptr<float>());
  }
  // Every reader checks them, stored or converted: a negative scale would flip a row's signs.
  if (const torch::Tensor ok = scales.defined() ? valid_int8_scales(scales).all(1) : torch::Tensor();
      ok.defined() && !ok.all().item<bool>()) {
    const int64_t row = ok.logical_not().nonzero()[0][0].item<int64_t>();
    const int64_t i = std::upper_bound(offsets.begin(), offsets.end(), first + row) - offsets.begin() - 1;
    throw error_at(path(), "example " + std::to_string(file_.ids()[i]) +
                               ": feature_scales holds a NaN, negative or overflowing scale");
  }
  torch::Tensor values = stored_dtype ? raw : scales.defined() ? dequantise_rows(raw, scales) : to_float32(raw);
  const bool keep_scales = stored_dtype && scales.defined();
  for (int64_t i = begin; i < end; ++i) {
    const int64_t at = offsets[i] - first, tokens = offsets[i + 1] - offsets[i];
    out.push_back({file_.ids()[i], values.narrow(0, at, tokens),
                   labels_[i].clone(),  // int64 scalar (class) or float32 [num_labels]
                   keep_scales ? scales.narrow(0, at, tokens) : torch::Tensor()});
  }
  // Readers that convert check here; those that keep the stored dtype check the batches
  // they make (check_finite, sherl/workflows/batch_loader.h).
  if (!stored_dtype && !torch::isfinite(values).all().item<bool>())
    for (const ShardExample& e : out)
      if (!torch::isfinite(e.features).all().item<bool>())
        throw error_at(path(), "example " + std::to_string(e.id) + ": features hold NaN or infinite values");
  return out;
}

}  // namespace sherl
