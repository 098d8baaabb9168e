#pragma once
// The task head trained with the MTSA: one Linear(d, num_outputs) on the pooled output of
// the late route, and the loss of each task kind.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "lib/core/types.h"

namespace sherl {


// Linear(d, num_outputs), initialised like torch.nn.Linear. Its parameters are named
// weight [num_outputs, d] and bias [num_outputs]; the adapter stores them as head.weight
// and head.bias.
class HeadImpl : public torch::nn::Module {
 public:
  HeadImpl(int64_t hidden_size, int64_t num_outputs);
  torch::Tensor forward(const torch::Tensor& pooled);  // [B, d] -> [B, num_outputs]
  int64_t hidden_size() const { return hidden_size_; }
  int64_t num_outputs() const { return num_outputs_; }

 private:
  int64_t hidden_size_, num_outputs_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(Head);

// Mean loss of a batch. outputs: [B, num_outputs]. targets:
//   classify:   int64 [B] class indices
//   regress:    float [B, num_outputs] (or [B] when num_outputs == 1)
//   multilabel: float/0-1 [B, num_outputs]
// Throws sherl::Error when the shapes do not fit the task.
torch::Tensor task_loss(Task task, const torch::Tensor& outputs, const torch::Tensor& targets);

// Predictions from outputs: classify -> int64 [B] argmax; regress -> outputs as they are;
// multilabel -> int64 0/1 [B, num_outputs] (logit > 0).
torch::Tensor predict(Task task, const torch::Tensor& outputs);

}  // namespace sherl
