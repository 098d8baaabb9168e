#pragma once
// What the text inputs need of a model's tokenizer, whatever its kind (WordPiece,
// SentencePiece): the ids of a text or a sentence pair, with the model's special tokens.
#include <cstdint>
#include <string>
#include <vector>

namespace sherl {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Pieces in the tokenizer's vocabulary (at most the model's vocab_size).
  virtual int64_t size() const = 0;
  // Whether encode() takes a sentence pair (BERT's [SEP] and token types); otherwise a pair
  // is joined into one text by a template first.
  virtual bool takes_pairs() const = 0;
  // The ids of `a`, or of the pair a, b (b may be null), with the model's special tokens and
  // token types, truncated to max_length tokens (the special tokens kept).
  virtual void encode(const std::string& a, const std::string* b, int64_t max_length, std::vector<int64_t>& ids,
                      std::vector<int64_t>& type_ids) const = 0;
};

}  // namespace sherl
