#include "sherl/method/head.h"

#include "lib/core/error.h"

namespace sherl {

HeadImpl::HeadImpl(int64_t hidden_size, int64_t num_outputs)
    : hidden_size_(hidden_size), num_outputs_(num_outputs) {
  if (hidden_size < 1 || num_outputs < 1)
    throw Error("head: hidden_size and num_outputs must be positive (got " +
                std::to_string(hidden_size) + ", " + std::to_string(num_outputs) + ")");
  // Registered directly (not as a child Linear) so that the names are weight/bias; the
  // values come from a Linear so that the initialisation is exactly torch.nn.Linear's.
  torch::nn::Linear init(hidden_size, num_outputs);
  weight_ = register_parameter("weight", init->weight.detach().clone());
  bias_ = register_parameter("bias", init->bias.detach().clone());
}

torch::Tensor HeadImpl::forward(const torch::Tensor& pooled) {
  return torch::linear(pooled, weight_, bias_);
}

namespace {

void check_batch(const torch::Tensor& outputs, const torch::Tensor& targets, Task task) {
  if (outputs.dim() != 2)
    throw Error("loss (" + task_name(task) + "): outputs must be [batch, outputs], got " +
                std::to_string(outputs.dim()) + " dimensions");
  if (targets.dim() < 1 || targets.size(0) != outputs.size(0))
    throw Error("loss (" + task_name(task) + "): " + std::to_string(outputs.size(0)) +
                " outputs but targets of a different batch size");
}

// Targets of the same shape as outputs; [B] is accepted for a single output.
torch::Tensor float_targets(const torch::Tensor& outputs, const torch::Tensor& targets, Task task) {
  torch::Tensor t = targets.to(outputs.device(), outputs.scalar_type());
  if (t.dim() == 1 && outputs.size(1) == 1) t = t.unsqueeze(1);
  if (t.sizes() != outputs.sizes())
    throw Error("loss (" + task_name(task) + "): targets must have " +
                std::to_string(outputs.size(1)) + " values per example");
  return t;
}

}  // namespace

torch::Tensor task_loss(Task task, const torch::Tensor& outputs, const torch::Tensor& targets) {
  check_batch(outputs, targets, task);
  switch (task) {
    case LabelKind::Class:
      if (targets.dim() != 1) throw Error("loss (classify): targets must be [batch] class indices");
      return torch::nn::functional::cross_entropy(outputs, targets.to(outputs.device(), torch::kLong));
    case LabelKind::Regression:
      return torch::mse_loss(outputs, float_targets(outputs, targets, task));
    case LabelKind::MultiLabel:
      return torch::binary_cross_entropy_with_logits(outputs, float_targets(outputs, targets, task));
  }
  throw Error("loss: unknown task");
}

torch::Tensor predict(Task task, const torch::Tensor& outputs) {
  switch (task) {
    case LabelKind::Class: return outputs.argmax(-1);
    case LabelKind::Regression: return outputs;
    case LabelKind::MultiLabel: return outputs.gt(0).to(torch::kLong);
  }
  throw Error("predict: unknown task");
}

}  // namespace sherl
