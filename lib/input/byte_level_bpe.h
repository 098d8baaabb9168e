#pragma once
// The byte-level BPE model of GPT-2 and its descendants (CLIP, Llama 3, Qwen2): a word's
// UTF-8 bytes are written as printable characters (GPT-2's byte-to-unicode table), then
// adjacent symbols are merged, lowest merge rank first, until no ranked pair is left; the
// symbols' vocabulary ids are the word's tokens. Pre-tokenisation, normalisation and special
// tokens belong to the tokenizer around it (bpe_tokenizer.h).
//
// Merging keeps the pairs in a priority queue ordered by (rank, position), as Hugging Face's
// Rust tokenizers do, so a word of n bytes costs O(n log n), however long it is; on merges
// learnt in order (no pair ranked before the merge that makes its parts) this is the same
// result as GPT-2's reference loop that merges every occurrence of the best pair per pass.
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sherl {

// The printable character GPT-2 writes for each byte (UTF-8), and the inverse.
const std::array<std::string, 256>& byte_symbols();

struct BpeModelSpec {
  std::unordered_map<std::string, int64_t> vocab;                // piece -> id
  std::vector<std::pair<std::string, std::string>> merges;       // in rank order
  std::string end_of_word_suffix;  // CLIP's "</w>", glued to a word's last symbol
  bool ignore_merges = false;      // Llama 3: a word that is itself in the vocabulary is one token
};

class ByteLevelBpe {
 public:
  // Checks what encoding relies on, naming `where` (the file) in errors: ids are
  // non-negative and distinct, every byte's symbol (and with a suffix, its suffixed form) is
  // in the vocabulary, and so are both parts and the result of every merge.
  ByteLevelBpe(BpeModelSpec spec, const std::string& where);

  // One more than the largest id.
  int64_t size() const { return size_; }
  // The id of a piece, or -1.
  int64_t id_of(const std::string& piece) const;
  // Appends the ids of one pre-tokenised word (its raw UTF-8 bytes; not empty).
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int64_t result;
  };
  static uint64_t pair_key(int64_t a, int64_t b) { return (uint64_t(a) << 32) | uint64_t(uint32_t(b)); }
  const Merge* find_merge(int64_t a, int64_t b) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int64_t, 256> byte_ids_{}, final_byte_ids_{};  // final: with the end-of-word suffix
  std::string suffix_;
  bool ignore_merges_ = false;
  int64_t size_ = 0;
};

}  // namespace sherl
