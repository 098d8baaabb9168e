#pragma once
// BERT's WordPiece tokenizer over a vocab.txt: basic pre-tokenisation (basic_tokenizer.h),
// then greedy longest-match-first sub-words with "##" continuations; a word longer than
// 100 characters or with no match becomes [UNK]. Special tokens written in the text
// ([CLS], [SEP], [PAD], [MASK], [UNK], exactly so spelled) are kept whole, as Hugging Face
// does.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/input/basic_tokenizer.h"
#include "lib/input/tokenizer.h"

namespace sherl {

class WordPieceTokenizer : public Tokenizer {
 public:
  // vocab.txt: one token per line, id = line number (0-based). Throws sherl::Error naming
  // the file when it is unreadable or lacks [CLS], [SEP] or [UNK].
  WordPieceTokenizer(const std::string& vocab_file, BasicTokenizerOptions options);

  // Token ids of `text`, without special tokens added.
  std::vector<int64_t> tokenize(const std::string& text) const;

  // [CLS] a [SEP] or [CLS] a [SEP] b [SEP] with token_type_ids 0 (through the first [SEP])
  // and 1; truncated to max_length tokens (pairs: longest first, see longest_first_lengths).
  void encode(const std::string& a, const std::string* b, int64_t max_length, std::vector<int64_t>& ids,
              std::vector<int64_t>& type_ids) const override;

  int64_t id(const std::string& token) const;  // -1 when not in the vocabulary
  const std::string& token(int64_t id) const { return tokens_.at(size_t(id)); }
  int64_t size() const override { return int64_t(tokens_.size()); }
  bool takes_pairs() const override { return true; }

 private:
  void wordpiece(const std::string& word, std::vector<int64_t>& out) const;
  void tokenize_plain(const std::string& text, std::vector<int64_t>& out) const;
  std::string file_;
  BasicTokenizerOptions options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<std::string> specials_;  // special tokens present in the vocabulary
  int64_t cls_ = -1, sep_ = -1, unk_ = -1;
};

// How many tokens of a pair (n1, n2) survive truncation to `budget` tokens with the
// "longest_first" strategy of Hugging Face's (Rust) tokenizers: when only the longer one
// needs cutting it keeps budget - shorter; when both do, the first keeps budget / 2 and the
// second the rest (on a tie the slow Python tokenizer would give the extra token to the
// first instead).
std::pair<int64_t, int64_t> longest_first_lengths(int64_t n1, int64_t n2, int64_t budget);

}  // namespace sherl
