#pragma once
// The C interface of the SentencePiece plugin (sentencepiece_plugin.cpp), which
// lib/input/sentencepiece_tokenizer.cpp loads with dlopen; why it is a plugin is said there.
// Plain C types only, and no exception crosses it.
#include <stddef.h>

extern "C" {

typedef struct SherlSentencePiece SherlSentencePiece;

// Loads a model; null on failure, with a message in error[0, error_size).
typedef SherlSentencePiece* (*sherl_spm_open_fn)(const char* model_file, char* error, size_t error_size);
typedef void (*sherl_spm_close_fn)(SherlSentencePiece* model);
// Pieces in the vocabulary; the id of </s> and of <s> (-1 when the model has none).
typedef int (*sherl_spm_piece_size_fn)(const SherlSentencePiece* model);
typedef int (*sherl_spm_eos_id_fn)(const SherlSentencePiece* model);
typedef int (*sherl_spm_bos_id_fn)(const SherlSentencePiece* model);
// Encodes text[0, length) into *count piece ids, written to ids when they fit in `capacity`
// (otherwise call again with room for *count). Returns 0, or -1 with a message in error.
typedef int (*sherl_spm_encode_fn)(const SherlSentencePiece* model, const char* text, size_t length, int* ids,
                                   size_t capacity, size_t* count, char* error, size_t error_size);

}  // extern "C"
