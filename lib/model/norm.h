#pragma once
// The normalisations of the supported families: LayerNorm (a weight and a bias; BERT, ViT,
// CLIP) and the root-mean-square norm of T5 and Llama (a weight only: no mean subtracted,
// no bias), computed in float32 as Hugging Face does.
#include <torch/torch.h>

#include <string>

namespace sherl {

class Checkpoint;

enum class NormKind { Layer, Rms };

class NormImpl : public torch::nn::Module {
 public:
  NormImpl(NormKind kind, int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  // Loads "<name>.weight", and "<name>.bias" for LayerNorm.
  void load(const Checkpoint& checkpoint, const std::string& name);
  NormKind kind() const { return kind_; }
  double eps() const { return eps_; }
  const torch::Tensor& weight() const { return weight_; }
  const torch::Tensor& bias() const { return bias_; }  // undefined for the RMS norm

 private:
  NormKind kind_;
  double eps_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(Norm);

}  // namespace sherl
