#include "lib/input/wordpiece.h"

#include <algorithm>
#include <fstream>

#include "lib/core/error.h"

namespace sherl {
namespace {

constexpr size_t kMaxWordChars = 100;  // HF max_input_chars_per_word
const char* const kSpecialTokens[] = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"};

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(const std::string& vocab_file, BasicTokenizerOptions options)
    : file_(vocab_file), options_(options) {
  std::ifstream in(vocab_file, std::ios::binary);
  if (!in) throw error_at(vocab_file, "cannot open the vocabulary");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ids_[line] = int64_t(tokens_.size());  // a duplicate maps to its last line, as in HF
    tokens_.push_back(line);
  }
  if (tokens_.empty()) throw error_at(vocab_file, "empty vocabulary");
  cls_ = id("[CLS]");
  sep_ = id("[SEP]");
  unk_ = id("[UNK]");
  for (const char* name : {"[CLS]", "[SEP]", "[UNK]"})
    if (id(name) < 0) throw error_at(vocab_file, std::string("the vocabulary has no ") + name + " token");
  for (const char* special : kSpecialTokens)
    if (id(special) >= 0) specials_.push_back(special);
}

int64_t WordPieceTokenizer::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<int64_t>& out) const {
  // The byte offset of every character, then the end: words come from basic_tokenize, valid
  // UTF-8, so characters start at the bytes that are not continuation bytes. Pieces are cut
  // out of the UTF-8 directly (the greedy search tries up to 5050 of them per word).
  std::vector<size_t> at;
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) at.push_back(i);
  const size_t chars = at.size();
  at.push_back(word.size());
  if (chars > kMaxWordChars) {
    out.push_back(unk_);
    return;
  }
  std::vector<int64_t> pieces;
  std::string piece;
  size_t start = 0;
  while (start < chars) {
    int64_t match = -1;
    size_t end = chars;
    for (; end > start; --end) {
      piece.assign(start > 0 ? "##" : "");
      piece.append(word, at[start], at[end] - at[start]);
      match = id(piece);
      if (match >= 0) break;
    }
    if (match < 0) {  // no sub-word fits: the whole word is unknown
      out.push_back(unk_);
      return;
    }
    pieces.push_back(match);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

void WordPieceTokenizer::tokenize_plain(const std::string& text, std::vector<int64_t>& out) const {
  for (const std::string& word : basic_tokenize(text, options_)) wordpiece(word, out);
}

std::vector<int64_t> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<int64_t> out;
  // next[k]: where specials_[k] next occurs at or after pos (npos: nowhere). Each is searched
  // again only once pos has passed it, so that a text full of one special token does not
  // rescan the rest of the text for every other one (quadratic on long lines).
  std::vector<size_t> next;
  for (const std::string& s : specials_) next.push_back(text.find(s));
  size_t pos = 0;
  while (pos < text.size()) {
    // The earliest special token written in the rest of the text, if any.
    size_t found = std::string::npos;
    const std::string* which = nullptr;
    for (size_t k = 0; k < specials_.size(); ++k) {
      if (next[k] != std::string::npos && next[k] < pos) next[k] = text.find(specials_[k], pos);
      if (next[k] < found) {
        found = next[k];
        which = &specials_[k];
      }
    }
    if (!which) {
      tokenize_plain(text.substr(pos), out);
      break;
    }
    tokenize_plain(text.substr(pos, found - pos), out);
    out.push_back(id(*which));
    pos = found + which->size();
  }
  return out;
}

std::pair<int64_t, int64_t> longest_first_lengths(int64_t n1, int64_t n2, int64_t budget) {
  if (n1 + n2 <= budget) return {n1, n2};
  bool swapped = n1 > n2;
  if (swapped) std::swap(n1, n2);  // n1 is now the shorter
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  if (swapped) std::swap(n1, n2);
  return {n1, n2};
}

void WordPieceTokenizer::encode(const std::string& a, const std::string* b, int64_t max_length,
                                std::vector<int64_t>& ids, std::vector<int64_t>& type_ids) const {
  std::vector<int64_t> first = tokenize(a);
  std::vector<int64_t> second;
  if (b) second = tokenize(*b);
  int64_t budget = std::max<int64_t>(max_length - (b ? 3 : 2), 0);
  auto kept = longest_first_lengths(int64_t(first.size()), int64_t(second.size()), budget);
  first.resize(size_t(kept.first));
  second.resize(size_t(kept.second));
  ids.clear();
  type_ids.clear();
  ids.push_back(cls_);
  ids.insert(ids.end(), first.begin(), first.end());
  ids.push_back(sep_);
  type_ids.assign(ids.size(), 0);
  if (b) {
    ids.insert(ids.end(), second.begin(), second.end());
    ids.push_back(sep_);
    type_ids.resize(ids.size(), 1);
  }
}

}  // namespace sherl
