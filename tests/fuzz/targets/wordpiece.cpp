// The WordPiece tokenizer (with BERT's basic pre-tokenisation) on arbitrary bytes: the first
// byte picks the options and max_length, the rest is the text, a pair when it holds a tab.
#include <memory>

#include "lib/core/error.h"
#include "lib/input/wordpiece.h"
#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {

int wordpiece(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t options = data[0];
  static std::unique_ptr<WordPieceTokenizer> tokenizers[8];
  auto& tok = tokenizers[options & 7];
  if (!tok) {
    BasicTokenizerOptions o;
    o.lower_case = options & 1;
    o.strip_accents = options & 2;
    o.split_cjk = options & 4;
    tok = std::make_unique<WordPieceTokenizer>(vocab_file(), o);
  }
  const int64_t max_length = 2 + (options >> 3);  // 2..33
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t tab = text.find('\t');
  const std::string a = text.substr(0, tab);
  const std::string b = tab == std::string::npos ? "" : text.substr(tab + 1);

  std::vector<int64_t> plain = tok->tokenize(text);
  for (int64_t id : plain) expect(id >= 0 && id < tok->size(), "a token id outside the vocabulary");
  for (const std::string& word : basic_tokenize(text, BasicTokenizerOptions{}))
    expect(!word.empty() && word.find(' ') == std::string::npos, "basic_tokenize made an empty or spaced word");

  std::vector<int64_t> ids, types;
  const bool pair = tab != std::string::npos && max_length >= 3;
  tok->encode(a, pair ? &b : nullptr, max_length, ids, types);
  expect(int64_t(ids.size()) <= max_length, "encode exceeded max_length");
  expect(ids.size() == types.size(), "token_type_ids and input_ids differ in length");
  expect(ids.front() == tok->id("[CLS]") && ids.back() == tok->id("[SEP]"), "encode lost [CLS] or [SEP]");
  for (size_t i = 1; i < types.size(); ++i) expect(types[i] >= types[i - 1], "token_type_ids not 0s then 1s");

  auto [n1, n2] = longest_first_lengths(int64_t(options), int64_t(size), max_length);
  expect(n1 >= 0 && n2 >= 0 && n1 <= options && n2 <= int64_t(size), "longest_first_lengths grew a text");
  expect(n1 + n2 == std::min<int64_t>(int64_t(options) + int64_t(size), max_length),
         "longest_first_lengths does not fill the budget exactly");
  return 0;
}

}  // namespace sherl::fuzz
