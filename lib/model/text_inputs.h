#pragma once
// The checks every text backbone makes of its inputs: token ids inside the vocabulary, and
// the token mask (all ones when the batch has none).
#include <torch/torch.h>

#include <string>

#include "lib/model/backbone.h"

namespace sherl {

// inputs.input_ids [B, T] as int64 on `device`; throws naming the model type and the id
// outside [0, vocab_size).
torch::Tensor checked_input_ids(const std::string& model_type, const ModelInputs& inputs, int64_t vocab_size,
                                torch::Device device);
// inputs.attention_mask as int64 (ones when absent); throws when it does not match the ids.
torch::Tensor text_token_mask(const std::string& model_type, const ModelInputs& inputs);
// For the families without token types (T5, the decoders): throws when inputs.token_type_ids
// mark a second segment, which such a model would silently read as one text.
void refuse_token_types(const std::string& model_type, const ModelInputs& inputs);

}  // namespace sherl
