#include "lib/core/types.h"

#include "lib/core/enum_names.h"
#include "lib/core/error.h"

namespace sherl {

namespace {

constexpr EnumName<LabelKind> kLabelKindNames[] = {
    {LabelKind::Class, "class"}, {LabelKind::Regression, "regression"}, {LabelKind::MultiLabel, "multilabel"}};
constexpr EnumName<LabelKind> kTaskNames[] = {
    {LabelKind::Class, "classify"}, {LabelKind::Regression, "regress"}, {LabelKind::MultiLabel, "multilabel"}};

}  // namespace

std::string to_string(LabelKind k) { return name_of(kLabelKindNames, k); }
LabelKind parse_label_kind(const std::string& s) { return parse_name(kLabelKindNames, s, "label kind"); }
std::string task_name(LabelKind k) { return name_of(kTaskNames, k); }
LabelKind parse_task(const std::string& name) { return parse_name(kTaskNames, name, "task"); }

bool BackboneIdentity::operator==(const BackboneIdentity& o) const {
  return model_type == o.model_type && hidden_size == o.hidden_size && num_layers == o.num_layers &&
         config_sha256 == o.config_sha256 && weights_sha256 == o.weights_sha256 &&
         preprocessing_sha256 == o.preprocessing_sha256;
}

const char* const* preprocessing_files() {
  // Everything a Hugging Face directory may hold that changes the model's inputs for the
  // same raw example: image normalisation and resizing, vocabularies, merges, tokenizer
  // options and special tokens. Sorted by name.
  static const char* const kFiles[] = {"added_tokens.json", "merges.txt", "preprocessor_config.json",
                                       "special_tokens_map.json", "spiece.model", "tokenizer.json",
                                       "tokenizer.model", "tokenizer_config.json", "vocab.json",
                                       "vocab.txt", nullptr};
  return kFiles;
}

std::string first_difference(const BackboneIdentity& a, const BackboneIdentity& b) {
  if (a.model_type != b.model_type) return "model_type";
  if (a.hidden_size != b.hidden_size) return "hidden_size";
  if (a.num_layers != b.num_layers) return "num_layers";
  if (a.config_sha256 != b.config_sha256) return "config_sha256";
  if (a.weights_sha256 != b.weights_sha256) return "weights_sha256";
  if (a.preprocessing_sha256 != b.preprocessing_sha256) return "preprocessing_sha256";
  return "";
}

json to_json(const BackboneIdentity& b) {
  return {{"model_type", b.model_type},         {"hidden_size", b.hidden_size},
          {"num_layers", b.num_layers},         {"config_sha256", b.config_sha256},
          {"weights_sha256", b.weights_sha256}, {"preprocessing_sha256", b.preprocessing_sha256}};
}

BackboneIdentity backbone_identity_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw error_at(where, "backbone identity: expected a JSON object");
  auto get = [&](const char* key, auto fallback, bool required) {
    using T = decltype(fallback);
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw error_at(where, std::string("backbone identity: missing key '") + key + "'");
      return fallback;
    }
    try {
      return it->template get<T>();
    } catch (const json::exception&) {
      throw error_at(where, std::string("backbone identity: key '") + key + "' has the wrong type (" +
                                it->type_name() + ")");
    }
  };
  BackboneIdentity b;
  b.model_type = get("model_type", std::string(), true);
  b.hidden_size = get("hidden_size", int64_t{0}, true);
  b.num_layers = get("num_layers", int64_t{0}, true);
  b.config_sha256 = get("config_sha256", std::string(), true);
  b.weights_sha256 = get("weights_sha256", std::string(), true);
  b.preprocessing_sha256 = get("preprocessing_sha256", std::string(), false);
  return b;
}

}  // namespace sherl
