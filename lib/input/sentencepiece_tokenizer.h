#pragma once
// SentencePiece models (T5's spiece.model; Llama 2's and Mistral's tokenizer.model) through
// Debian's libsentencepiece, with the special tokens of each family: T5 appends </s>, Llama
// prepends <s>. A sentence pair is one text to these models (joined by a template before
// tokenising), so encode() refuses pairs.
//
// libsentencepiece is reached through a plugin (lib/input/plugin/), loaded on first use.
#include <string>
#include <vector>

#include "lib/input/tokenizer.h"

struct SherlSentencePiece;

namespace sherl {

enum class SpecialTokens {
  AppendEos,   // text </s> (T5)
  PrependBos,  // <s> text (Llama)
  None,        // text alone (a Llama whose tokenizer_config.json sets add_bos_token false)
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Throws sherl::Error naming the file when it is not a SentencePiece model, or lacks the
  // special token the family needs, and naming the plugin when it cannot be loaded.
  SentencePieceTokenizer(const std::string& model_file, SpecialTokens specials);
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  int64_t size() const override;
  bool takes_pairs() const override { return false; }
  // The pieces' ids of `text`, without special tokens. Throws on text that is not UTF-8.
  // Errors do not name the text's place: callers prefix it.
  std::vector<int64_t> tokenize(const std::string& text) const;
  void encode(const std::string& a, const std::string* b, int64_t max_length, std::vector<int64_t>& ids,
              std::vector<int64_t>& type_ids) const override;

 private:
  std::string file_;
  SpecialTokens specials_;
  int64_t special_id_ = -1;
  SherlSentencePiece* model_ = nullptr;
};

}  // namespace sherl
