#pragma once
// Inverted dropout (keep with probability 1 - p, scale kept values by 1 / (1 - p)), as
// torch::dropout, with a faster mask on the CPU: LibTorch's CPU bernoulli_ draws one
// Mersenne-Twister number per element on one thread, about a tenth of a training step
// here. The mask is a counter-based hash of one 64-bit seed drawn from LibTorch's default
// generator, so it follows torch::manual_seed (a resumed run sees the same masks), does not
// depend on the thread count, and fills in parallel. Other devices draw the same seed and
// seed a generator of their own for a Bernoulli mask.
#include <torch/torch.h>

#include <cstdint>

namespace sherl {

// Makes the dropout of the calling thread draw its seeds from `generator` (a CPU generator)
// instead of LibTorch's default one, until the scope ends: the points of a training grid
// each follow their own seed, whichever thread runs them and in whatever order.
class DropoutGeneratorScope {
 public:
  explicit DropoutGeneratorScope(at::Generator generator);
  ~DropoutGeneratorScope();
  DropoutGeneratorScope(const DropoutGeneratorScope&) = delete;
  DropoutGeneratorScope& operator=(const DropoutGeneratorScope&) = delete;

 private:
  at::Generator previous_;
};

torch::Tensor inverted_dropout(const torch::Tensor& x, double p, bool training);

// The mask inverted_dropout() would multiply a CPU float32 tensor of these sizes by, drawing
// its seed from LibTorch's default generator the same way: for kernels that apply it
// themselves (sherl/kernels/mtsa_output.h).
torch::Tensor next_dropout_mask(torch::IntArrayRef sizes, double p);

// The float32 CPU mask inverted_dropout() multiplies by: element i is 1 / (1 - p) when the i-th
// 32-bit draw from `seed` is below (1 - p) * 2^32, else 0. Deterministic in (sizes, p, seed).
torch::Tensor dropout_mask(torch::IntArrayRef sizes, double p, uint64_t seed);

}  // namespace sherl
