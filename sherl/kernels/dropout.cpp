#include "sherl/kernels/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>

namespace sherl {
namespace {

// SplitMix64's output for state seed + (k + 1) * golden gamma: a good 64-bit hash of a
// counter, two 32-bit draws per call.
uint64_t splitmix64(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

thread_local at::Generator scoped_generator;  // undefined: the default one

uint64_t draw_seed() {
  at::Generator generator = scoped_generator.defined() ? scoped_generator : at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

}  // namespace

DropoutGeneratorScope::DropoutGeneratorScope(at::Generator generator) : previous_(std::move(scoped_generator)) {
  scoped_generator = std::move(generator);
}

DropoutGeneratorScope::~DropoutGeneratorScope() { scoped_generator = std::move(previous_); }

torch::Tensor dropout_mask(torch::IntArrayRef sizes, double p, uint64_t seed) {
  torch::Tensor mask = torch::empty(sizes, torch::kFloat32);
  float* m = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  const uint64_t threshold = static_cast<uint64_t>(std::llround((1.0 - p) * 4294967296.0));
  const float kept = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, (n + 1) / 2, 8192, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const uint64_t r = splitmix64(seed, static_cast<uint64_t>(k));
      m[2 * k] = (r & 0xFFFFFFFFULL) < threshold ? kept : 0.0f;
      if (2 * k + 1 < n) m[2 * k + 1] = (r >> 32) < threshold ? kept : 0.0f;
    }
  });
  return mask;
}

torch::Tensor next_dropout_mask(torch::IntArrayRef sizes, double p) { return dropout_mask(sizes, p, draw_seed()); }

torch::Tensor inverted_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  if (x.device().is_cpu()) return x * next_dropout_mask(x.sizes(), p).to(x.scalar_type());
  at::Generator device_generator = at::globalContext().defaultGenerator(x.device()).clone();
  device_generator.set_current_seed(draw_seed());
  return x * torch::empty_like(x).bernoulli_(1.0 - p, device_generator).div_(1.0 - p);
}

}  // namespace sherl
