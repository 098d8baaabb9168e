// The SentencePiece plugin: Debian's libsentencepiece behind the C interface of
// sentencepiece_api.h. Built as a module of its own, linked with libsentencepiece and
// nothing of sherl's, and loaded privately (sentencepiece_tokenizer.cpp says why).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <type_traits>
#include <string>
#include <vector>

#include "lib/input/plugin/sentencepiece_api.h"

struct SherlSentencePiece {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void set_error(char* error, size_t size, const std::string& message) {
  if (size > 0) std::snprintf(error, size, "%s", message.c_str());
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) SherlSentencePiece* sherl_spm_open(const char* model_file, char* error,
                                                                          size_t error_size) {
  try {
    auto* model = new SherlSentencePiece;
    const auto status = model->processor.Load(model_file);
    if (status.ok()) return model;
    set_error(error, error_size, status.ToString());
    delete model;
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
  }
  return nullptr;
}

__attribute__((visibility("default"))) void sherl_spm_close(SherlSentencePiece* model) { delete model; }

__attribute__((visibility("default"))) int sherl_spm_piece_size(const SherlSentencePiece* model) {
  return model->processor.GetPieceSize();
}

__attribute__((visibility("default"))) int sherl_spm_eos_id(const SherlSentencePiece* model) {
  return model->processor.eos_id();
}

__attribute__((visibility("default"))) int sherl_spm_bos_id(const SherlSentencePiece* model) {
  return model->processor.bos_id();
}

__attribute__((visibility("default"))) int sherl_spm_encode(const SherlSentencePiece* model, const char* text,
                                                            size_t length, int* ids, size_t capacity, size_t* count,
                                                            char* error, size_t error_size) {
  try {
    std::vector<int> pieces;
    const auto status = model->processor.Encode(std::string(text, length), &pieces);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return -1;
    }
    *count = pieces.size();
    if (pieces.size() <= capacity) std::copy(pieces.begin(), pieces.end(), ids);
    return 0;
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return -1;
  }
}

}  // extern "C"

// The definitions have the types the loader expects.
static_assert(std::is_same_v<decltype(&sherl_spm_open), sherl_spm_open_fn>);
static_assert(std::is_same_v<decltype(&sherl_spm_close), sherl_spm_close_fn>);
static_assert(std::is_same_v<decltype(&sherl_spm_piece_size), sherl_spm_piece_size_fn>);
static_assert(std::is_same_v<decltype(&sherl_spm_eos_id), sherl_spm_eos_id_fn>);
static_assert(std::is_same_v<decltype(&sherl_spm_bos_id), sherl_spm_bos_id_fn>);
static_assert(std::is_same_v<decltype(&sherl_spm_encode), sherl_spm_encode_fn>);
