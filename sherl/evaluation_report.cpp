#include "sherl/evaluation_report.h"

#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/model/backbone.h"
#include "sherl/adapter_io.h"
#include "sherl/evaluate.h"
#include "sherl/metrics.h"
#include "sherl/predictions.h"

namespace sherl {

json evaluate_adapter(const std::string& adapter_dir, const std::string& model_dir, const std::string& data_dir,
                      const std::string& predictions_path, int64_t batch_size, torch::Device device) {
  Adapter adapter = load_adapter(adapter_dir, device);
  const AdapterInfo& info = adapter.info;
  if (backbone_identity(model_dir) != info.backbone)
    throw error_at(model_dir, "is not the backbone adapter " + adapter_dir + " was trained with");
  ShardSet data(data_dir);
  std::vector<int64_t> positions =
      check_compatible(data, info.backbone, info.tiers, info.late_layers, "adapter " + adapter_dir);
  if (task_of(data.info().label_kind) != info.task)
    throw error_at(data_dir, "labels are of kind " + to_string(data.info().label_kind) + " but the adapter was trained to " +
                                 to_string(info.task));
  auto late_route = std::make_shared<LateRoute>(load_backbone(model_dir, device), info.late_layers);
  AdaptedModel model(adapter.mtsa, adapter.head, late_route);
  Outputs out = run_adapted_model(model, data, batch_size, device, positions);
  json metrics = task_metrics(info.task, out.outputs, out.targets);
  if (!predictions_path.empty()) {
    std::ostringstream rows;
    rows << prediction_header(true);
    write_prediction_rows(rows, info.task, out.outputs, out.ids, info.label_names, out.targets);
    write_file_atomic(predictions_path, rows.str());
  }
  return metrics;
}

}  // namespace sherl
