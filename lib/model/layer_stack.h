#pragma once
// What the backbones made of EncoderLayers share (every family so far): the stack of layers,
// run one at a time for the early and the late route, and each layer's parameters.
#include <string>
#include <vector>

#include "lib/model/backbone.h"
#include "lib/model/encoder_layer.h"

namespace sherl {

class LayerStackBackboneImpl : public BackboneImpl {
 public:
  int64_t num_layers() const override { return static_cast<int64_t>(layers_->size()); }
  torch::Tensor layer(int64_t i, const torch::Tensor& hidden, const LayerState& state,
                      const OutputRows& rows = {}) override;
  std::vector<torch::Tensor> layer_parameters(int64_t i) override;
  // How every layer is built (for instance to count its products).
  const EncoderLayerOptions& layer_options() const { return options_; }

 protected:
  explicit LayerStackBackboneImpl(BackboneScope scope);
  // Appends `n` layers built with `options` (a family's constructor calls it); with a late
  // scope only the last K are built, the others are placeholders that refuse to run.
  void add_layers(int64_t n, const EncoderLayerOptions& options);
  // Loads layer i's tensors, "<prefix>.<names...>" (nothing for a layer not built).
  void load_layer(int64_t i, const Checkpoint& checkpoint, const std::string& prefix, const EncoderLayerNames& names);
  // Whether the embedding stage is built (the whole backbone): families allocate and load
  // their embedding tables only then.
  bool builds_embeddings() const { return scope_.whole(); }
  // Throws unless the embedding stage is built (the first thing embed() does).
  void require_embeddings() const;

 private:
  EncoderLayerImpl& at(int64_t i);
  // A layer built with `options`, in the scope's dtype.
  EncoderLayer built_layer(const EncoderLayerOptions& options) const;

  BackboneScope scope_;
  torch::nn::ModuleList layers_{nullptr};
  EncoderLayerOptions options_;
};

}  // namespace sherl
