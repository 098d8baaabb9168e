#pragma once
// What the byte-level BPE models do to a text before merging: normalisation and the split
// into words by each family's published pattern. The patterns run on ICU's regular
// expressions, with \s read as Unicode's White_Space property (as Hugging Face's Rust
// tokenizers read it).
#include <memory>
#include <string>
#include <vector>

namespace sherl {

enum class BpePattern {
  Gpt2,    // GPT-2's: 's|'t|... | ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,  // Llama 3's: case-insensitive contractions, letters with one leading non-letter,
           // numbers of 1-3 digits, punctuation with trailing newlines, whitespace
  Qwen2,   // Llama 3's with single digits
  Clip,    // CLIP's: its two special tokens, contractions, letter runs, single digits,
           // other runs; whitespace between them is dropped
};

// The pattern whose text (as tokenizer.json writes it in a Split pre-tokenizer) is `text`,
// or throws "<where>: ... not supported" listing the ones that are.
BpePattern bpe_pattern_from_text(const std::string& text, const std::string& where);

// Unicode NFC composition.
std::string nfc(const std::string& text);
// CLIP's text cleaning (as its fast tokenizer normalises): NFC, every run of whitespace
// made one space, lower case (full Unicode case mapping).
std::string clip_clean(const std::string& text);

class BpePreTokenizer {
 public:
  explicit BpePreTokenizer(BpePattern pattern);
  ~BpePreTokenizer();
  BpePreTokenizer(const BpePreTokenizer&) = delete;
  BpePreTokenizer& operator=(const BpePreTokenizer&) = delete;

  // The words of valid UTF-8 `text`, in order: the pattern's matches, and any text between
  // them (which CLIP drops), each non-empty.
  std::vector<std::string> split(const std::string& text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  bool keep_gaps_;
};

}  // namespace sherl
