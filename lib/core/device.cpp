#include "lib/core/device.h"

#include "lib/core/error.h"
#include "lib/core/runtime.h"

#ifdef SHERL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace sherl {

namespace {

// Index 0 of the allocator's statistics is the aggregate over its pools in every LibTorch
// version (StatType::AGGREGATE).
constexpr size_t kAggregate = 0;

}  // namespace

torch::Device parse_device(const std::string& spec) {
  const std::string expected = "--device " + spec + ": expected auto, cpu, cuda or cuda:N";
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.rfind("cuda", 0) != 0) throw Error(expected);
  int index = 0;
  if (spec.size() > 4) {
    std::string digits = spec.substr(5);
    bool number = !digits.empty() && digits.size() <= 4 && digits.find_first_not_of("0123456789") == std::string::npos;
    if (spec[4] != ':' || !number) throw Error(expected);
    index = std::stoi(digits);
  }
  if (!torch::cuda::is_available())
    throw Error("--device " + spec + ": CUDA is not available (" +
                std::string(torch::hasCUDA() ? "no visible CUDA device; check CUDA_VISIBLE_DEVICES"
                                             : "this LibTorch was built without CUDA") + ")");
  if (index >= static_cast<int>(torch::cuda::device_count()))
    throw Error("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) +
                " CUDA device(s) visible (CUDA_VISIBLE_DEVICES renumbers them from 0)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

torch::ScalarType parse_precision(const std::string& spec, torch::Device device) {
  if (spec == "f32") return torch::kFloat32;
  if (spec == "bf16") return torch::kBFloat16;
  if (spec == "f16") {
    if (!device.is_cuda())
      throw Error("--precision f16 needs a CUDA device (LibTorch's CPU kernels lack half precision); use bf16 or f32");
    return torch::kFloat16;
  }
  throw Error("--precision " + spec + ": expected f32, bf16 or f16");
}

std::string precision_name(torch::ScalarType precision) {
  switch (precision) {
    case torch::kFloat32: return "f32";
    case torch::kBFloat16: return "bf16";
    case torch::kFloat16: return "f16";
    default: throw Error(std::string("no --precision for ") + c10::toString(precision));
  }
}

torch::Tensor to_host(const torch::Tensor& t) {
  if (!t.defined() || t.device().is_cpu()) return t;
  auto host = torch::empty(t.sizes(), t.options().device(torch::kCPU).pinned_memory(true));
  host.copy_(t);
  return host;
}

int64_t peak_device_memory_bytes(torch::Device device) {
  if (!device.is_cuda()) return peak_rss_bytes();
#ifdef SHERL_WITH_CUDA
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
  return static_cast<int64_t>(stats.allocated_bytes[kAggregate].peak);
#else
  return 0;
#endif
}

void reset_peak_device_memory(torch::Device device) {
#ifdef SHERL_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
}

std::string peak_memory_summary(torch::Device device) {
  if (!device.is_cuda()) return "peak RSS " + format_bytes(static_cast<double>(peak_rss_bytes()));
  return "peak GPU memory " + format_bytes(static_cast<double>(peak_device_memory_bytes(device))) +
         " allocated on " + device.str() + ", peak RSS " + format_bytes(static_cast<double>(peak_rss_bytes()));
}

bool is_out_of_memory(const std::exception& e) {
  std::string what = e.what();
  return what.find("out of memory") != std::string::npos || what.find("OutOfMemory") != std::string::npos;
}

void with_out_of_memory_hint(torch::Device device, int64_t batch_size, const std::function<void()>& work) {
  try {
    work();
  } catch (const c10::Error& e) {
    if (!is_out_of_memory(e)) throw;
    std::string first_line = e.what_without_backtrace();
    first_line = first_line.substr(0, first_line.find('\n'));
    throw Error(device.str() + " ran out of memory with --batch-size " + std::to_string(batch_size) + " (" +
                first_line + "); try a smaller --batch-size, a GPU with more free memory (CUDA_VISIBLE_DEVICES), "
                "or --precision bf16");
  }
}

}  // namespace sherl
