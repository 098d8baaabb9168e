#include "lib/model/text_inputs.h"

#include "lib/core/error.h"

namespace sherl {

torch::Tensor checked_input_ids(const std::string& model_type, const ModelInputs& inputs, int64_t vocab_size,
                                torch::Device device) {
  const auto& ids = inputs.input_ids;
  if (!ids.defined() || ids.dim() != 2) throw Error(model_type + " backbone: input_ids must be a [batch, tokens] tensor");
  if (ids.numel() > 0) {
    int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= vocab_size)
      throw Error(model_type + " backbone: token id " + std::to_string(lo < 0 ? lo : hi) +
                  " is outside the vocabulary of " + std::to_string(vocab_size) + " (config.json vocab_size)");
  }
  return ids.to(device, torch::kInt64);
}

torch::Tensor text_token_mask(const std::string& model_type, const ModelInputs& inputs) {
  if (!inputs.input_ids.defined()) throw Error(model_type + " backbone: no input_ids");
  if (!inputs.attention_mask.defined()) return torch::ones_like(inputs.input_ids, torch::kInt64);
  if (inputs.attention_mask.sizes() != inputs.input_ids.sizes())
    throw Error(model_type + " backbone: attention_mask does not match input_ids");
  return inputs.attention_mask.to(torch::kInt64);
}

void refuse_token_types(const std::string& model_type, const ModelInputs& inputs) {
  const torch::Tensor& types = inputs.token_type_ids;
  if (types.defined() && types.numel() > 0 && types.ne(0).any().item<bool>())
    throw Error(model_type + " backbone: the model has no token types; give a sentence pair as one text (--template)");
}

}  // namespace sherl
