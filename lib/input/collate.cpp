// collate(): a list of examples -> one batch of model inputs on the CPU.
#include <algorithm>

#include "lib/core/error.h"
#include "lib/input/source.h"

namespace sherl {
namespace {

ModelInputs stack_images(const std::vector<RawExample>& batch) {
  std::vector<torch::Tensor> images;
  for (const auto& e : batch) {
    if (!e.pixel_values.defined()) throw Error("collate: example " + std::to_string(e.id) + " has no image");
    if (!e.pixel_values.sizes().equals(batch[0].pixel_values.sizes()))
      throw Error("collate: example " + std::to_string(e.id) + " has image shape " +
                  c10::str(e.pixel_values.sizes()) + ", example " + std::to_string(batch[0].id) + " has " +
                  c10::str(batch[0].pixel_values.sizes()));
    images.push_back(e.pixel_values);
  }
  ModelInputs in;
  in.pixel_values = torch::stack(images);
  return in;
}

// Right-padding to the longest sequence of the batch: pad_token_id, attention 0, type 0.
ModelInputs pad_text(const std::vector<RawExample>& batch, int64_t pad_token_id) {
  int64_t longest = 0;
  for (const auto& e : batch) longest = std::max<int64_t>(longest, int64_t(e.input_ids.size()));
  const int64_t b = int64_t(batch.size());
  ModelInputs in;
  in.input_ids = torch::full({b, longest}, pad_token_id, torch::kInt64);
  in.token_type_ids = torch::zeros({b, longest}, torch::kInt64);
  in.attention_mask = torch::zeros({b, longest}, torch::kInt64);
  auto ids = in.input_ids.accessor<int64_t, 2>();
  auto types = in.token_type_ids.accessor<int64_t, 2>();
  auto mask = in.attention_mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& e = batch[size_t(i)];
    if (e.input_ids.empty()) throw Error("collate: example " + std::to_string(e.id) + " has no tokens");
    if (!e.token_type_ids.empty() && e.token_type_ids.size() != e.input_ids.size())
      throw Error("collate: example " + std::to_string(e.id) + " has token_type_ids of the wrong length");
    for (size_t t = 0; t < e.input_ids.size(); ++t) {
      ids[i][int64_t(t)] = e.input_ids[t];
      types[i][int64_t(t)] = e.token_type_ids.empty() ? 0 : e.token_type_ids[t];
      mask[i][int64_t(t)] = 1;
    }
  }
  return in;
}

}  // namespace

ModelInputs collate(const std::vector<RawExample>& batch, int64_t pad_token_id) {
  if (batch.empty()) throw Error("collate: empty batch");
  return batch[0].pixel_values.defined() ? stack_images(batch) : pad_text(batch, pad_token_id);
}

}  // namespace sherl
