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

}  // namespace sherl
