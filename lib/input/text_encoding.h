#pragma once
// Text to model token ids for a model directory: WordPiece tokenisation when the model has
// a vocab.txt (BERT), and validation of pre-tokenised `input_ids` / `token_type_ids`
// (required for models without vocab.txt, e.g. RoBERTa, accepted for every text model).
#include <memory>
#include <string>
#include <vector>

#include "lib/core/json.h"
#include "lib/input/source.h"
#include "lib/input/wordpiece.h"

namespace sherl {

class TextEncoder {
 public:
  // Reads config.json (vocab_size, type_vocab_size, max_position_embeddings), and when
  // present vocab.txt and tokenizer_config.json (do_lower_case, strip_accents,
  // tokenize_chinese_chars). do_lower_case defaults to true (BertTokenizer's default)
  // unless config.json's _name_or_path names a "-cased" model.
  TextEncoder(const std::string& model_dir, int64_t max_length);

  bool can_tokenize() const { return tokenizer_ != nullptr; }
  // Throws "<where>: ... needs pre-tokenised input_ids" when the model has no vocab.txt.
  void require_tokenizer(const std::string& where) const;

  // Tokenises one text or a pair (b may be null) into out.input_ids / out.token_type_ids.
  void encode_text(const std::string& a, const std::string* b, RawExample& out) const;

  // Copies pre-tokenised ids after checking them: integers in [0, vocab_size), at most
  // max_length of them; token_type_ids (optional; zeros when absent) of the same length in
  // [0, type_vocab_size). Errors name `where` (file:line) and the offending index.
  void encode_ids(const json& input_ids, const json* token_type_ids, const std::string& where,
                  RawExample& out) const;

 private:
  std::string model_dir_;
  int64_t max_length_;
  int64_t vocab_size_ = 0, type_vocab_size_ = 2;
  std::unique_ptr<WordPieceTokenizer> tokenizer_;
};

}  // namespace sherl
