#pragma once
// Loading a trained adapter with its frozen backbone into a model ready to run: what
// sherl-eval and sherl-predict share.
#include <torch/torch.h>

#include <string>

#include "lib/model/backbone.h"
#include "sherl/method/adapted_model.h"
#include "sherl/method/adapter_io.h"

namespace sherl {

struct LoadedModel {
  AdapterInfo info;
  Backbone backbone{nullptr};
  AdaptedModel model{nullptr};  // in eval mode
};

// Loads <adapter_dir> and the backbone in <model_dir> on `device`. Throws sherl::Error naming
// the model directory when it is not the backbone the adapter was trained with (before any
// weights are loaded), or naming the adapter file that is missing or malformed.
// With late_route_only (evaluation on cached tiers), only the backbone's late layers are
// loaded (BackboneScope); predictions on raw input need it whole.
LoadedModel load_adapted_model(const std::string& adapter_dir, const std::string& model_dir, torch::Device device,
                               bool late_route_only = false);

}  // namespace sherl
