#pragma once
// BERT's "basic" pre-tokenisation (the BasicTokenizer of Google's BERT / Hugging Face):
// drop NUL, U+FFFD and control characters (Unicode category C*, except tab / newline / CR);
// map whitespace (space, tab, newline, CR, category Zs) to a space; put spaces around CJK
// ideographs; split on whitespace; per word optionally lower-case (full Unicode case mapping)
// and strip accents (NFD, then drop non-spacing marks, category Mn); then split off every
// punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or category P*).
// Unicode data (categories, case mapping, NFD) come from ICU, so every script is covered,
// not only Latin. Not done, as in the fast (Rust) tokenizer: NFC composition of the input.
#include <string>
#include <vector>

namespace sherl {

struct BasicTokenizerOptions {
  bool lower_case = true;
  bool strip_accents = true;     // HF: strip_accents None follows lower_case
  bool split_cjk = true;         // tokenize_chinese_chars
};

// UTF-8 in, UTF-8 words out. Invalid UTF-8 sequences become U+FFFD and are dropped.
std::vector<std::string> basic_tokenize(const std::string& text, const BasicTokenizerOptions& options);

// Decodes UTF-8 to code points (invalid sequences -> U+FFFD) and back.
std::u32string utf8_to_utf32(const std::string& s);
std::string utf32_to_utf8(const std::u32string& s);
// Whether `s` is well-formed UTF-8 (tokenizers that would read bad bytes as something else
// refuse the text instead).
bool is_utf8(const std::string& s);

}  // namespace sherl
