#include "sherl/report/predictions.h"

#include <cstdio>

namespace sherl {
namespace {

std::string join_scores(const torch::Tensor& row) {
  std::string s;
  char buf[32];
  auto a = row.accessor<float, 1>();
  for (int64_t j = 0; j < a.size(0); ++j) {
    std::snprintf(buf, sizeof buf, "%s%.6f", j ? "," : "", a[j]);
    s += buf;
  }
  return s;
}

std::string class_name(int64_t c, const std::vector<std::string>& names) {
  return c >= 0 && c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c);
}

std::string describe(Task task, const torch::Tensor& row, const std::vector<std::string>& names) {
  if (task == LabelKind::Class) return class_name(row.argmax().item<int64_t>(), names);
  std::string s;
  if (task == LabelKind::Regression) return join_scores(row);
  for (int64_t j = 0; j < row.size(0); ++j)
    if (row[j].item<float>() > 0) s += (s.empty() ? "" : ",") + class_name(j, names);
  return s;
}

}  // namespace

std::string prediction_header(bool with_target) {
  return std::string("id\tpredicted\tscores") + (with_target ? "\ttarget" : "") + "\n";
}

void write_prediction_rows(std::ostream& out, Task task, const torch::Tensor& outputs, const torch::Tensor& ids,
                           const std::vector<std::string>& label_names, const torch::Tensor& targets) {
  torch::Tensor logits = outputs.to(torch::kFloat32).contiguous();
  torch::Tensor scores = task == LabelKind::Class     ? torch::softmax(logits, 1)
                         : task == LabelKind::MultiLabel ? torch::sigmoid(logits)
                                                    : logits;
  for (int64_t i = 0; i < logits.size(0); ++i) {
    out << ids[i].item<int64_t>() << '\t' << describe(task, logits[i], label_names) << '\t' << join_scores(scores[i]);
    if (targets.defined()) {
      if (task == LabelKind::Class)
        out << '\t' << class_name(targets[i].item<int64_t>(), label_names);
      else
        out << '\t' << join_scores(targets[i].to(torch::kFloat32).reshape({-1}));
    }
    out << '\n';
  }
}

}  // namespace sherl
