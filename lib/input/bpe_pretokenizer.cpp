#include "lib/input/bpe_pretokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>

#include "lib/core/error.h"

namespace sherl {
namespace {

// Each family's pattern as published (the text tokenizer.json holds) and as ICU runs it.
struct PatternText {
  BpePattern pattern;
  const char* name;
  const char* published;  // empty for CLIP, which has no tokenizer.json pattern of its own
  const char* icu;
};

#define WS "\\p{White_Space}"
#define NOT_WS "\\P{White_Space}"
const PatternText kPatterns[] = {
    {BpePattern::Gpt2, "GPT-2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
     R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^)" WS R"(\p{L}\p{N}]+|)" WS "+(?!" NOT_WS ")|" WS "+"},
    {BpePattern::Llama3, "Llama 3",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^)" WS R"(\p{L}\p{N}]+[\r\n]*|)" WS
     R"(*[\r\n]+|)" WS "+(?!" NOT_WS ")|" WS "+"},
    {BpePattern::Qwen2, "Qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^)" WS R"(\p{L}\p{N}]+[\r\n]*|)" WS
     R"(*[\r\n]+|)" WS "+(?!" NOT_WS ")|" WS "+"},
    {BpePattern::Clip, "CLIP", "",
     R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^)" WS R"(\p{L}\p{N}]+)"},
};
#undef WS
#undef NOT_WS

const PatternText& pattern_text(BpePattern p) {
  for (const PatternText& t : kPatterns)
    if (t.pattern == p) return t;
  throw Error("unknown BPE pattern");
}

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) throw Error(std::string("ICU: ") + what + ": " + u_errorName(status));
}

icu::UnicodeString from_utf8(const std::string& s) {
  return icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
}

std::string to_utf8(const icu::UnicodeString& s) {
  std::string out;
  s.toUTF8String(out);
  return out;
}

icu::UnicodeString nfc_of(const icu::UnicodeString& s) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* composer = icu::Normalizer2::getNFCInstance(status);
  check(status, "cannot load the NFC normaliser");
  icu::UnicodeString out = composer->normalize(s, status);
  check(status, "NFC failed");
  return out;
}

}  // namespace

BpePattern bpe_pattern_from_text(const std::string& text, const std::string& where) {
  std::string known;
  for (const PatternText& t : kPatterns) {
    if (*t.published && text == t.published) return t.pattern;
    if (*t.published) known += std::string(known.empty() ? "" : ", ") + t.name;
  }
  throw error_at(where, "the pre-tokenizer pattern '" + text + "' is not supported (supported: the patterns of " +
                            known + ")");
}

std::string nfc(const std::string& text) { return to_utf8(nfc_of(from_utf8(text))); }

std::string clip_clean(const std::string& text) {
  UErrorCode status = U_ZERO_ERROR;
  static const std::unique_ptr<icu::RegexPattern> whitespace(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8("\\p{White_Space}+"), 0, status));
  check(status, "cannot compile the whitespace pattern");
  const icu::UnicodeString composed = nfc_of(from_utf8(text));  // the matcher keeps a reference to it
  std::unique_ptr<icu::RegexMatcher> matcher(whitespace->matcher(composed, status));
  check(status, "cannot match the whitespace pattern");
  icu::UnicodeString cleaned = matcher->replaceAll(icu::UnicodeString::fromUTF8(" "), status);
  check(status, "cannot collapse whitespace");
  cleaned.toLower(icu::Locale::getRoot());  // full case mapping, like Rust's and Python's lower()
  return to_utf8(cleaned);
}

struct BpePreTokenizer::Compiled {
  std::unique_ptr<icu::RegexPattern> regex;
};

BpePreTokenizer::BpePreTokenizer(BpePattern pattern)
    : compiled_(std::make_unique<Compiled>()), keep_gaps_(pattern != BpePattern::Clip) {
  UErrorCode status = U_ZERO_ERROR;
  const uint32_t flags = pattern == BpePattern::Clip ? UREGEX_CASE_INSENSITIVE : 0;
  compiled_->regex.reset(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(pattern_text(pattern).icu), flags, status));
  check(status, "cannot compile a BPE pre-tokenizer pattern");
}

BpePreTokenizer::~BpePreTokenizer() = default;

std::vector<std::string> BpePreTokenizer::split(const std::string& text) const {
  const icu::UnicodeString input = from_utf8(text);
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> matcher(compiled_->regex->matcher(input, status));
  // A word may be the whole text (1 MB of letters): its backtracking states must not hit
  // ICU's default 8 MB limit.
  matcher->setStackLimit(0, status);
  check(status, "cannot match a BPE pre-tokenizer pattern");
  std::vector<std::string> words;
  auto add = [&](int32_t begin, int32_t end) {
    if (end > begin) words.push_back(to_utf8(icu::UnicodeString(input, begin, end - begin)));
  };
  int32_t done = 0;
  while (matcher->find(status)) {
    const int32_t begin = matcher->start(status), end = matcher->end(status);
    check(status, "BPE pre-tokenizer match failed");
    if (keep_gaps_) add(done, begin);
    add(begin, end);
    done = end;
  }
  check(status, "BPE pre-tokenizer search failed");
  if (keep_gaps_) add(done, input.length());
  return words;
}

}  // namespace sherl
