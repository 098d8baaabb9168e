#pragma once
// The vocabulary that several areas share (shards, adapters, models, inputs): the kind of
// labels a data set carries and the identity of a frozen backbone, with their JSON forms.
// Areas that only need these include this header, not a format's.
#include <cstdint>
#include <string>

#include "lib/core/json.h"

namespace sherl {

// What a data set's labels are, and so what a head is trained to do: single-label
// classification (cross-entropy), real-valued targets (mean squared error), independent
// binary labels (binary cross-entropy). Two spellings, each kept by the files that use it:
// the label kind of shards and --task of sherl-extract's predecessors ("class",
// "regression", "multilabel") and the task of adapters and of --task ("classify",
// "regress", "multilabel").
enum class LabelKind { Class, Regression, MultiLabel };
std::string to_string(LabelKind k);              // "class", "regression", "multilabel"
LabelKind parse_label_kind(const std::string& s);  // those names; throws sherl::Error
std::string task_name(LabelKind k);              // "classify", "regress", "multilabel"
LabelKind parse_task(const std::string& name);   // those names; throws sherl::Error
// What a head is trained to do: the kind of its labels, named for the code that trains.
using Task = LabelKind;

// The families of backbones, each with its own config keys, tokenizer and inputs: the one
// place that maps config.json's model_type onto them (lib/model builds them, lib/input
// tokenises for them).
enum class BackboneFamily {
  Bert,     // bert, roberta
  Vision,   // vit, clip_vision_model
  T5,       // t5, mt5, umt5
  Decoder,  // llama, mistral, qwen2
  ClipText, // clip_text_model
  Unknown,
};
BackboneFamily backbone_family(const std::string& model_type);

// Which tower of a two-tower model (CLIPModel: model_type clip) a tool works on; Whole for a
// model of one tower. A tower of a CLIPModel is a backbone of its own model_type
// (clip_text_model, clip_vision_model), so an identity's model_type names its tower.
enum class Tower { Whole, Text, Vision };
std::string to_string(Tower t);                // "whole", "text", "vision"
Tower parse_tower(const std::string& name);    // "text", "vision"; throws sherl::Error
Tower tower_of(const std::string& model_type);  // clip_text_model: Text, clip_vision_model: Vision
// config.json's object for `tower`: a CLIPModel's text_config or vision_config, with
// model_type clip_text_model or clip_vision_model; any other model's own object, which must
// be of that modality when a tower is asked for. Throws "<path>: ..." naming the key.
json tower_config(const json& config, Tower tower, const std::string& path);
// <model_dir>/config.json's object for `tower` (tower_config).
json read_tower_config(const std::string& model_dir, Tower tower);

// Identity of the backbone that produced the features; shards of different identities are
// never mixed, and the late route refuses a checkpoint whose identity differs.
struct BackboneIdentity {
  std::string model_type;        // config.json's model_type: "vit", "bert", "t5", "llama", ...
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  std::string config_sha256;     // of config.json's bytes
  std::string weights_sha256;    // of the weight files' bytes, in file-name order
  // Of the files that turn raw input into the model's inputs (image preprocessing,
  // tokenizer; see preprocessing_files()), each as name, size and bytes, in name order.
  std::string preprocessing_sha256;
  bool operator==(const BackboneIdentity& o) const;
  bool operator!=(const BackboneIdentity& o) const { return !(*this == o); }
};

// The file names (in a Hugging Face model directory) that preprocessing_sha256 covers.
const char* const* preprocessing_files();

// The first field in which two identities differ ("weights_sha256", ...), or "".
std::string first_difference(const BackboneIdentity& a, const BackboneIdentity& b);

json to_json(const BackboneIdentity& b);
// Throws sherl::Error("<where>: ...") naming the missing or mistyped key. A missing
// preprocessing_sha256 (sets written before it existed) reads as "".
BackboneIdentity backbone_identity_from_json(const json& j, const std::string& where);

}  // namespace sherl
