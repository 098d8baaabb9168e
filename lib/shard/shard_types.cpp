// The small value types of shard.h: dtype and label-kind names, backbone identity.
#include "lib/core/error.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"

namespace sherl {

std::string to_string(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return "f32";
    case FeatureDType::F16: return "f16";
    case FeatureDType::BF16: return "bf16";
  }
  return "?";
}

FeatureDType parse_feature_dtype(const std::string& s) {
  if (s == "f32" || s == "float32") return FeatureDType::F32;
  if (s == "f16" || s == "float16") return FeatureDType::F16;
  if (s == "bf16" || s == "bfloat16") return FeatureDType::BF16;
  throw Error("unknown feature dtype '" + s + "' (expected f32, f16 or bf16)");
}

torch::ScalarType torch_dtype(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return torch::kFloat32;
    case FeatureDType::F16: return torch::kFloat16;
    case FeatureDType::BF16: return torch::kBFloat16;
  }
  return torch::kFloat32;
}

std::string to_string(LabelKind k) {
  switch (k) {
    case LabelKind::Class: return "class";
    case LabelKind::Regression: return "regression";
    case LabelKind::MultiLabel: return "multilabel";
  }
  return "?";
}

LabelKind parse_label_kind(const std::string& s) {
  if (s == "class") return LabelKind::Class;
  if (s == "regression") return LabelKind::Regression;
  if (s == "multilabel") return LabelKind::MultiLabel;
  throw Error("unknown label kind '" + s + "' (expected class, regression or multilabel)");
}

bool BackboneIdentity::operator==(const BackboneIdentity& o) const {
  return model_type == o.model_type && hidden_size == o.hidden_size && num_layers == o.num_layers &&
         config_sha256 == o.config_sha256 && weights_sha256 == o.weights_sha256;
}

void register_zstd_filter() { h5::init(); }

}  // namespace sherl
