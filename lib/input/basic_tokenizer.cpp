#include "lib/input/basic_tokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "lib/core/error.h"

namespace sherl {
namespace {

bool is_whitespace(char32_t c) {
  if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r') return true;
  return u_charType(UChar32(c)) == U_SPACE_SEPARATOR;
}

bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  return (U_GET_GC_MASK(UChar32(c)) & U_GC_C_MASK) != 0;
}

bool is_punctuation(char32_t c) {
  // BERT counts all non-letter/number ASCII as punctuation ("$", "^", "`" are not P* in
  // Unicode), and every character of a P* category elsewhere.
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return (U_GET_GC_MASK(UChar32(c)) & U_GC_P_MASK) != 0;
}

// The CJK Unified Ideographs blocks BERT treats as single-character words (Hangul,
// Hiragana and Katakana are not among them, as in BERT).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Cleanup and CJK spacing on the whole text.
std::u32string clean(const std::u32string& text, bool split_cjk) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      out.push_back(U' ');
    } else if (split_cjk && is_cjk(c)) {
      out.push_back(U' ');
      out.push_back(c);
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

icu::UnicodeString to_icu(const std::u32string& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), int32_t(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out;
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out.push_back(char32_t(s.char32At(i)));
  return out;
}

std::u32string lower(const std::u32string& word) {
  icu::UnicodeString s = to_icu(word);
  s.toLower(icu::Locale::getRoot());  // full case mapping, like Python's str.lower()
  return from_icu(s);
}

std::u32string strip_accents(const std::u32string& word) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) throw Error(std::string("ICU: cannot load the NFD normaliser: ") + u_errorName(status));
  icu::UnicodeString decomposed = nfd->normalize(to_icu(word), status);
  if (U_FAILURE(status)) throw Error(std::string("ICU: NFD failed: ") + u_errorName(status));
  std::u32string out;
  for (char32_t c : from_icu(decomposed))
    if (u_charType(UChar32(c)) != U_NON_SPACING_MARK) out.push_back(c);
  return out;
}

void split_punctuation(const std::u32string& word, std::vector<std::string>& out) {
  std::u32string current;
  for (char32_t c : word) {
    if (is_punctuation(c)) {
      if (!current.empty()) out.push_back(utf32_to_utf8(current));
      current.clear();
      out.push_back(utf32_to_utf8(std::u32string(1, c)));
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) out.push_back(utf32_to_utf8(current));
}

}  // namespace

std::u32string utf8_to_utf32(const std::string& s) {
  return from_icu(icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size()))));
}

std::string utf32_to_utf8(const std::u32string& s) {
  std::string out;
  to_icu(s).toUTF8String(out);
  return out;
}

bool is_utf8(const std::string& s) { return utf32_to_utf8(utf8_to_utf32(s)) == s; }

std::vector<std::string> basic_tokenize(const std::string& text, const BasicTokenizerOptions& options) {
  std::u32string cleaned = clean(utf8_to_utf32(text), options.split_cjk);
  std::vector<std::string> words;
  size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && cleaned[i] == U' ') ++i;
    size_t j = i;
    while (j < cleaned.size() && cleaned[j] != U' ') ++j;
    if (j > i) {
      std::u32string word = cleaned.substr(i, j - i);
      if (options.lower_case) word = lower(word);
      if (options.strip_accents) word = strip_accents(word);
      split_punctuation(word, words);
    }
    i = j;
  }
  return words;
}

}  // namespace sherl
