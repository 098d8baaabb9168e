#include "lib/input/byte_level_bpe.h"

#include <limits>
#include <queue>
#include <unordered_set>

#include "lib/core/error.h"
#include "lib/input/basic_tokenizer.h"  // utf32_to_utf8

namespace sherl {

const std::array<std::string, 256>& byte_symbols() {
  // Printable Latin-1 bytes stand for themselves; the others (controls, space, soft hyphen)
  // take the code points from 256 up, in byte order.
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[size_t(b)] = utf32_to_utf8(std::u32string(1, printable ? char32_t(b) : next++));
    }
    return t;
  }();
  return table;
}

namespace {

int64_t required_id(const std::unordered_map<std::string, int64_t>& vocab, const std::string& piece,
                    const std::string& what, const std::string& where) {
  auto it = vocab.find(piece);
  if (it == vocab.end()) throw error_at(where, what + " '" + piece + "' is not in the vocabulary");
  return it->second;
}

}  // namespace

ByteLevelBpe::ByteLevelBpe(BpeModelSpec spec, const std::string& where)
    : vocab_(std::move(spec.vocab)), suffix_(std::move(spec.end_of_word_suffix)), ignore_merges_(spec.ignore_merges) {
  std::unordered_set<int64_t> seen;
  for (const auto& [piece, id] : vocab_) {
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      throw error_at(where, "token '" + piece + "' has id " + std::to_string(id) + ", out of range");
    if (!seen.insert(id).second) throw error_at(where, "id " + std::to_string(id) + " is given to two tokens");
    size_ = std::max(size_, id + 1);
  }
  for (size_t b = 0; b < 256; ++b) {
    const std::string& symbol = byte_symbols()[b];
    byte_ids_[b] = required_id(vocab_, symbol, "the byte symbol", where);
    final_byte_ids_[b] = suffix_.empty() ? byte_ids_[b] : required_id(vocab_, symbol + suffix_, "the byte symbol", where);
  }
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    const std::string what = "merge " + std::to_string(rank + 1) + " ('" + a + " " + b + "'):";
    const int64_t ia = required_id(vocab_, a, what + " its first part", where);
    const int64_t ib = required_id(vocab_, b, what + " its second part", where);
    const int64_t result = required_id(vocab_, a + b, what + " its result", where);
    // A pair listed twice takes its last rank, as GPT-2's rank table (a dict built in order)
    // and Hugging Face's (a map filled in order) do.
    merges_[pair_key(ia, ib)] = Merge{int32_t(rank), result};
  }
}

int64_t ByteLevelBpe::id_of(const std::string& piece) const {
  auto it = vocab_.find(piece);
  return it == vocab_.end() ? -1 : it->second;
}

const ByteLevelBpe::Merge* ByteLevelBpe::find_merge(int64_t a, int64_t b) const {
  auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void ByteLevelBpe::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    std::string symbols;
    for (unsigned char c : word) symbols += byte_symbols()[c];
    if (int64_t id = id_of(symbols + suffix_); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // The word's symbols as a doubly linked list over the positions of its bytes.
  const int n = int(word.size());
  const size_t count = word.size();
  std::vector<int64_t> id(count, 0);
  std::vector<int> prev(count), next(count);
  for (int i = 0; i < n; ++i) {
    const auto byte = static_cast<unsigned char>(word[size_t(i)]);
    id[size_t(i)] = i + 1 == n ? final_byte_ids_[byte] : byte_ids_[byte];
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  // Candidate pairs by (rank, position of the left symbol); a popped candidate is stale when
  // its left symbol was merged away or its pair changed (ranks are unique to a pair).
  using Candidate = std::pair<int32_t, int>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto offer = [&](int left) {
    if (left < 0 || next[size_t(left)] < 0) return;
    if (const Merge* m = find_merge(id[size_t(left)], id[size_t(next[size_t(left)])])) queue.push({m->rank, left});
  };
  std::vector<char> alive(count, 1);
  for (int i = 0; i + 1 < n; ++i) offer(i);
  while (!queue.empty()) {
    const auto [rank, left] = queue.top();
    queue.pop();
    if (!alive[size_t(left)] || next[size_t(left)] < 0) continue;
    const int right = next[size_t(left)];
    const Merge* m = find_merge(id[size_t(left)], id[size_t(right)]);
    if (!m || m->rank != rank) continue;
    id[size_t(left)] = m->result;
    alive[size_t(right)] = 0;
    next[size_t(left)] = next[size_t(right)];
    if (next[size_t(right)] >= 0) prev[size_t(next[size_t(right)])] = left;
    offer(prev[size_t(left)]);
    offer(left);
  }
  for (int i = 0; i >= 0; i = next[size_t(i)]) out.push_back(id[size_t(i)]);
}

}  // namespace sherl
