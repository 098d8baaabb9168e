#pragma once
// The late route of SHERL: the last K layers of the frozen backbone, then the backbone's
// own pooling. The layers are frozen (requires_grad = false, never given to an optimizer)
// but sit on the autograd path, so gradients flow through them to the MTSA. The last layer
// computes only the rows its pooling reads (the first token, one position per example, or
// every token for mean pooling): the same values for a fraction of the work.
#include <torch/torch.h>

#include "lib/model/backbone.h"

namespace sherl {

class LateRoute {
 public:
  // Freezes every parameter of the backbone (the caller checks its identity). With a
  // `precision` other than float32 (bf16 on a GPU, --precision) the frozen layers hold and
  // compute in it; what enters and leaves the route stays float32, so the MTSA and the head
  // train in float32 and gradients cross the route in the lower precision.
  LateRoute(Backbone backbone, int64_t late_layers, torch::ScalarType precision = torch::kFloat32);
  // hidden: [B, T, d] entering layer L-K; mask: [B, T] int64 (1 = token). Returns [B, d]
  // in hidden's dtype. End-of-text pooling needs the pooled positions [B, 1] (found from
  // the input ids); the other kinds find their rows from the mask.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask,
                        const torch::Tensor& pooled_positions = {}) const;
  int64_t late_layers() const { return late_layers_; }
  BackboneImpl& backbone() const { return *backbone_; }
  // Copies of the late layers' parameters (to check that training left them untouched).
  std::vector<torch::Tensor> snapshot() const;

 private:
  Backbone backbone_;
  int64_t late_layers_;
  torch::ScalarType precision_;
};

}  // namespace sherl
