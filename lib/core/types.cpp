#include "lib/core/types.h"

#include "lib/core/enum_names.h"
#include "lib/core/error.h"

namespace sherl {

namespace {

constexpr EnumName<LabelKind> kLabelKindNames[] = {
    {LabelKind::Class, "class"}, {LabelKind::Regression, "regression"}, {LabelKind::MultiLabel, "multilabel"}};
constexpr EnumName<LabelKind> kTaskNames[] = {
    {LabelKind::Class, "classify"}, {LabelKind::Regression, "regress"}, {LabelKind::MultiLabel, "multilabel"}};
constexpr EnumName<Tower> kTowerNames[] = {{Tower::Whole, "whole"}, {Tower::Text, "text"}, {Tower::Vision, "vision"}};

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

BackboneFamily backbone_family(const std::string& t) {
  if (t == "bert" || t == "roberta") return BackboneFamily::Bert;
  if (t == "vit" || t == "clip_vision_model") return BackboneFamily::Vision;
  if (t == "t5" || t == "mt5" || t == "umt5") return BackboneFamily::T5;
  if (t == "llama" || t == "mistral" || t == "qwen2") return BackboneFamily::Decoder;
  if (t == "clip_text_model") return BackboneFamily::ClipText;
  return BackboneFamily::Unknown;
}

std::string to_string(Tower t) { return name_of(kTowerNames, t); }
Tower parse_tower(const std::string& name) {
  if (name == "whole") throw Error("tower 'whole' is not one of text, vision");
  return parse_name(kTowerNames, name, "tower");
}

Tower tower_of(const std::string& model_type) {
  if (model_type == "clip_text_model") return Tower::Text;
  if (model_type == "clip_vision_model") return Tower::Vision;
  return Tower::Whole;
}

json tower_config(const json& config, Tower tower, const std::string& path) {
  const auto type = config.find("model_type");
  const std::string model_type = type != config.end() && type->is_string() ? type->get<std::string>() : "";
  if (model_type != "clip") {
    if (tower == Tower::Whole) return config;
    const bool image = backbone_family(model_type) == BackboneFamily::Vision;
    if (image != (tower == Tower::Vision))
      throw error_at(path, "key 'model_type': '" + model_type + "' has no " + to_string(tower) + " tower");
    return config;
  }
  if (tower == Tower::Whole)
    throw error_at(path, "key 'model_type': 'clip' (a CLIPModel) holds a text and a vision tower: choose one with "
                         "--tower text|vision");
  const char* key = tower == Tower::Text ? "text_config" : "vision_config";
  const auto sub = config.find(key);
  if (sub == config.end() || !sub->is_object())
    throw error_at(path, std::string("key '") + key + "': missing: this CLIP directory has no " + to_string(tower) + " tower");
  json out = *sub;
  out["model_type"] = tower == Tower::Text ? "clip_text_model" : "clip_vision_model";
  return out;
}

json read_tower_config(const std::string& model_dir, Tower tower) {
  const std::string path = model_dir + "/config.json";
  json config = read_json_file(path);
  if (!config.is_object()) throw error_at(path, "not a JSON object");
  return tower_config(config, tower, path);
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
