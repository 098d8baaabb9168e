#pragma once
// y = x W^T + b for inputs with many rows (the MTSA's output layer and gated projections:
// batch x tokens rows of a few hundred values), split by rows across LibTorch's OpenMP
// threads, each running a single-threaded BLAS product, with a hand-written backward split
// the same way. (The linear-ln projections have their own kernel, sherl/kernels/tier_projections.h.)
//
// Why: on the CPU, LibTorch hands each product to OpenBLAS, whose own thread pool
// competes with LibTorch's for the cores and sleeps between products; for these thin
// products, a dozen per training step, waking it cost about as much as the product
// (bench/README.md). Here one pool does all the work.
//
// Where the BLAS is not a shared library that exports sgemm_/dgemm_ (LibTorch with MKL
// linked in), or off the CPU, or for other dtypes, it is torch::nn::functional::linear.
// Results do not depend on how the threads are scheduled; the weight gradient's summation
// order depends on the thread count (as LibTorch's own reductions do).
#include <torch/torch.h>

namespace sherl {

// x [..., in], weight [out, in], bias [out] or undefined. Returns [..., out].
torch::Tensor row_parallel_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// True when row_parallel_linear runs its own kernel for float32 CPU tensors here.
bool row_parallel_linear_available();

// Asks OpenBLAS (when it is the BLAS) to run every product on its calling thread, so that
// its pool does not compete with LibTorch's: for processes whose products all go through
// row_parallel_linear or are small (sherl-train). No effect with another BLAS.
void use_single_threaded_blas();

}  // namespace sherl
