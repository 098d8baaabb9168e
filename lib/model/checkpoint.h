#pragma once
// The weights of a Hugging Face model directory: model.safetensors, or shards
// model-0000X-of-0000Y.safetensors listed in model.safetensors.index.json. Tensors are looked
// up by their backbone name with or without the task-model prefix ("bert.", "vit.", ...), so
// that both a bare BertModel and a BertForSequenceClassification checkpoint load.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/model/safetensors.h"

namespace sherl {

// The weight files of `model_dir` in file-name order (for hashing); throws when there are none.
std::vector<std::string> checkpoint_files(const std::string& model_dir);

class Checkpoint {
 public:
  Checkpoint(const std::string& model_dir, std::vector<std::string> prefixes);
  // The tensor as float32, checked against the shape the config implies. Throws
  // "<file>: tensor '<name>': missing" or "...: shape [..] where config.json implies [..]".
  torch::Tensor get(const std::string& name, at::IntArrayRef expected_shape) const;
  // Copies the named tensor into a parameter of the same shape.
  void load(torch::Tensor& param, const std::string& name) const;
  // The stored shape of the named tensor (throws "...: missing" as get() does).
  std::vector<int64_t> shape(const std::string& name) const;
  // Whether the checkpoint holds the tensor (under a prefix or not).
  bool contains(const std::string& name) const;

 private:
  struct Found {
    const SafetensorsFile* file;
    std::string stored_name;
  };
  Found find(const std::string& name) const;

  std::string where_;  // what "missing" messages name: the single file or the index
  std::vector<std::string> prefixes_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> owner_;  // stored name -> its file
};

}  // namespace sherl
