#pragma once
// AdamW and gradient-norm clipping in one pass per parameter on the CPU.
//
// Why: torch::optim::AdamW runs about ten LibTorch operations per parameter (weight decay,
// two moment updates, square root, division, the update) and clip_grad_norm_ a norm and a
// product per parameter plus a stack, each dispatched one by one on the training thread:
// serial work for each of the MTSA's few dozen small parameters, while the step's parallel
// work waits (bench/README.md has the figure). FusedAdamW is a torch::optim::AdamW (same options, state and
// checkpoints: torch::save / torch::load read and write it as they do AdamW, and either
// resumes the other's) whose step() runs the same update as one loop over each float32 CPU
// parameter; anything else (another device or dtype, amsgrad) takes AdamW::step.
#include <torch/torch.h>

#include <vector>

namespace sherl {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // Whether step() runs its own loop for the current parameters, gradients and state.
  bool fused() const;
};

// torch::nn::utils::clip_grad_norm_ with the L2 norm: scales every defined gradient by
// max_norm / (total + 1e-6) when that is below 1, and returns the total norm (summed in
// double). Float32 CPU gradients in one pass each; others through LibTorch.
double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

}  // namespace sherl
