#pragma once
// Devices: choosing one (--device), the floating-point precision of frozen forward passes
// (--precision), a run's peak memory, and a clear message when a device runs out of it.
// CUDA's caching allocator is reachable only when this build links a CUDA LibTorch
// (SHERL_WITH_CUDA, set by CMakeLists.txt); with a CPU-only LibTorch that side reports 0.
#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>

namespace sherl {

// "auto" (CUDA when LibTorch has it and a device is visible), "cpu", "cuda", "cuda:N".
// CUDA_VISIBLE_DEVICES applies as usual: N counts the visible devices.
// Throws sherl::Error with a clear reason when CUDA is asked for and not available.
torch::Device parse_device(const std::string& spec);

// --precision of the frozen layers: "f32", "bf16" or "f16". f16 only on CUDA: LibTorch's CPU
// kernels lack half precision for LayerNorm and matrix products.
torch::ScalarType parse_precision(const std::string& spec, torch::Device device);
std::string precision_name(torch::ScalarType precision);  // "f32", "bf16", "f16"

// `t` in host memory: from a GPU through page-locked memory (the fast path of the copy
// engines), waiting for the work that produces it; a host tensor as it is.
torch::Tensor to_host(const torch::Tensor& t);

// Peak bytes held by tensors on `device` since the start or the last reset: the CUDA caching
// allocator's peak allocated bytes on a GPU; on the CPU, the process's peak RSS.
int64_t peak_device_memory_bytes(torch::Device device);
void reset_peak_device_memory(torch::Device device);

// "peak GPU memory 1.2 GiB allocated on cuda:0, peak RSS 800 MiB" / "peak RSS 340 MiB":
// the last line of a tool.
std::string peak_memory_summary(torch::Device device);

// True when `e` says that a device ran out of memory (LibTorch's "CUDA out of memory" and
// OutOfMemoryError, in every version's wording).
bool is_out_of_memory(const std::exception& e);

// Runs `work` (one batch of `batch_size` examples on `device`); when the device runs out of
// memory, throws a sherl::Error that names the device and the batch size that failed and
// says what to do, instead of LibTorch's allocator report.
void with_out_of_memory_hint(torch::Device device, int64_t batch_size, const std::function<void()>& work);

}  // namespace sherl
