#include "sherl/method/adapted_model_loading.h"

#include "lib/core/error.h"
#include "sherl/method/late_route.h"

namespace sherl {

LoadedModel load_adapted_model(const std::string& adapter_dir, const std::string& model_dir, torch::Device device,
                               bool late_route_only) {
  Adapter adapter = load_adapter(adapter_dir, device);
  const Tower tower = tower_of(adapter.info.backbone.model_type);  // a CLIPModel's: the adapter's
  if (backbone_identity(model_dir, tower) != adapter.info.backbone)
    throw error_at(model_dir, "is not the backbone adapter " + adapter_dir +
                                  " was trained with (config, weights or preprocessing files differ)");
  LoadedModel loaded;
  loaded.info = adapter.info;
  loaded.backbone = load_backbone(model_dir, device, tower,
                                  BackboneScope{late_route_only ? adapter.info.late_layers : 0});
  auto late_route = std::make_shared<LateRoute>(loaded.backbone, adapter.info.late_layers);
  loaded.model = AdaptedModel(adapter.mtsa, adapter.head, late_route);
  loaded.model->eval();
  return loaded;
}

}  // namespace sherl
