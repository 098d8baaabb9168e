#include "sherl/workflows/evaluation_report.h"

#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/output_directory.h"
#include "sherl/method/adapted_model_loading.h"
#include "sherl/workflows/evaluate.h"
#include "sherl/report/metrics.h"
#include "sherl/report/predictions.h"

namespace sherl {

json evaluate_adapter(const std::string& adapter_dir, const std::string& model_dir, const std::string& data_dir,
                      const std::string& predictions_path, int64_t batch_size, torch::Device device) {
  if (batch_size < 1) throw Error("--batch-size must be at least 1");
  if (!predictions_path.empty())
    for (const auto& [option, dir] : {std::pair<const char*, std::string>{"--data", data_dir}, {"--adapter", adapter_dir},
                                      {"--model", model_dir}})
      if (is_same_or_inside(predictions_path, dir))
        throw Error("--predictions " + predictions_path + ": lies inside " + option + " " + dir +
                    ", whose files it could replace; write it elsewhere");
  ShardSet data(data_dir);
  if (data.size() == 0) throw error_at(data_dir, "holds no examples to evaluate");
  AdapterInfo info = read_adapter_info(adapter_dir);  // checked against the data before any weights load
  std::vector<int64_t> positions =
      check_compatible(data, info.backbone, info.tiers, info.late_layers, "adapter " + adapter_dir);
  if (data.info().label_kind != info.task)
    throw error_at(data_dir, "labels are of kind " + to_string(data.info().label_kind) + " but the adapter was trained to " +
                                 task_name(info.task));
  std::vector<int64_t> classes = class_mapping(data, info.label_names, info.num_outputs, "adapter " + adapter_dir);
  LoadedModel loaded = load_adapted_model(adapter_dir, model_dir, device, /*late_route_only=*/true);
  Outputs out = run_adapted_model(loaded.model, data, batch_size, device, positions);
  apply_class_mapping(out, classes, data);
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
