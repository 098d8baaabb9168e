#include "lib/shard/shard_info.h"

#include "lib/core/error.h"

namespace sherl {

json to_json(const ShardSetInfo& info) {
  return json{
      {"backbone", to_json(info.backbone)},
      {"tiers", info.tiers},
      {"late_layers", info.late_layers},
      {"dtype", to_string(info.dtype)},
      {"label_kind", to_string(info.label_kind)},
      {"num_labels", info.num_labels},
      {"label_names", info.label_names},
      {"source_path", info.source_path},
      {"source_sha256", info.source_sha256},
      {"tool_version", info.tool_version},
      {"command_line", info.command_line},
  };
}

json to_json(const ManifestEntry& e) {
  return {{"file", e.file}, {"examples", e.examples}, {"sha256", e.sha256}, {"bytes", e.bytes}};
}

ManifestEntry manifest_entry_from_json(const json& j, const std::string& where) {
  try {
    return {j.at("file").get<std::string>(), j.at("examples").get<int64_t>(), j.at("sha256").get<std::string>(),
            j.at("bytes").get<int64_t>()};
  } catch (const json::exception& e) {
    throw error_at(where, std::string("bad shard entry: ") + e.what());
  }
}

ShardSetInfo shard_set_info_from_json(const json& j, const std::string& where) {
  ShardSetInfo info;
  try {
    info.backbone = backbone_identity_from_json(j.at("backbone"), where);
    info.tiers = j.at("tiers").get<std::vector<int64_t>>();
    info.late_layers = j.at("late_layers").get<int64_t>();
    info.dtype = parse_feature_dtype(j.at("dtype").get<std::string>());
    info.label_kind = parse_label_kind(j.at("label_kind").get<std::string>());
    info.num_labels = j.at("num_labels").get<int64_t>();
    info.label_names = j.value("label_names", std::vector<std::string>{});
    info.source_path = j.value("source_path", std::string());
    info.source_sha256 = j.value("source_sha256", std::string());
    info.tool_version = j.value("tool_version", std::string());
    info.command_line = j.value("command_line", std::string());
  } catch (const json::exception& e) {
    throw error_at(where, std::string("bad shard-set info: ") + e.what());
  } catch (const Error& e) {
    throw error_at(where, e);
  }
  return info;
}

std::string first_difference(const ShardSetInfo& a, const ShardSetInfo& b) {
  if (std::string field = first_difference(a.backbone, b.backbone); !field.empty()) return "backbone." + field;
  if (a.tiers != b.tiers) return "tiers";
  if (a.late_layers != b.late_layers) return "late_layers";
  if (a.dtype != b.dtype) return "dtype";
  if (a.label_kind != b.label_kind) return "label_kind";
  if (a.num_labels != b.num_labels) return "num_labels";
  if (a.label_names != b.label_names) return "label_names";
  if (a.source_path != b.source_path) return "source_path";
  if (a.source_sha256 != b.source_sha256) return "source_sha256";
  return "";  // tool_version and command_line may differ between resumed runs
}

}  // namespace sherl
