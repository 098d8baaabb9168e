// BERT WordPiece tokenisation on a small hand-written vocabulary. transformers is not
// installed here, so the expected tokens were worked out by hand from BERT's rules.
#include <gtest/gtest.h>

#include <chrono>

#include "lib/input/wordpiece.h"
#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

const std::vector<std::string> kVocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "un",      // 0-9
    "##want", "##ed", "runn", "##ing", ",", ".", "!", "cafe", "naive", "中",                // 10-19
    "国", "$", "hello", "world", "a", "##a", "łodz", "The", "Café", "«",                     // 20-29
    "»"};                                                                                     // 30

struct WordPiece : ::testing::Test {
  ScratchDir dir;
  std::string vocab_file;
  void SetUp() override {
    vocab_file = dir / "vocab.txt";
    std::string text;
    for (const auto& t : kVocab) text += t + "\n";
    write_text(vocab_file, text);
  }
  std::vector<std::string> tokens(const std::string& text, BasicTokenizerOptions o = {}) {
    WordPieceTokenizer tok(vocab_file, o);
    std::vector<std::string> out;
    for (int64_t id : tok.tokenize(text)) out.push_back(tok.token(id));
    return out;
  }
  using V = std::vector<std::string>;
};

TEST_F(WordPiece, LowerCasingAndPunctuation) {
  EXPECT_EQ(tokens("The QUICK brown fox."), (V{"the", "quick", "brown", "fox", "."}));
  EXPECT_EQ(tokens("hello,world!"), (V{"hello", ",", "world", "!"}));
  // '$' is not Unicode punctuation (Sc) but BERT splits all ASCII non-alphanumerics.
  EXPECT_EQ(tokens("$hello"), (V{"$", "hello"}));
  // Unicode punctuation: an em dash (Pd) splits, guillemets (Pi / Pf) too.
  EXPECT_EQ(tokens("hello\u2014world"), (V{"hello", "[UNK]", "world"}));
  EXPECT_EQ(tokens("\u00abhello\u00bb"), (V{"\u00ab", "hello", "\u00bb"}));
}

TEST_F(WordPiece, AccentsAreStrippedWhenLowerCasing) {
  EXPECT_EQ(tokens("Caf\u00e9 na\u00efve"), (V{"cafe", "naive"}));
  // Already decomposed input (e + combining acute) gives the same.
  EXPECT_EQ(tokens("Cafe\u0301"), (V{"cafe"}));
  // Latin Extended-A: Ł has no decomposition (only lower-cased), ó and ź lose their accents.
  EXPECT_EQ(tokens("\u0141\u00f3d\u017a"), (V{"\u0142odz"}));
}

TEST_F(WordPiece, LongTextFullOfSpecialTokensTakesLinearTime) {
  // 200000 [CLS] and no [MASK]: searching the rest of the text for [MASK] after every
  // [CLS] would take some 10^11 steps.
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "[CLS] ";
  auto start = std::chrono::steady_clock::now();
  WordPieceTokenizer tok(vocab_file, {});
  std::vector<int64_t> ids = tok.tokenize(text + "[SEP]");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  ASSERT_EQ(ids.size(), 200001u);
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids.back(), 3);
}

TEST_F(WordPiece, CasedKeepsCaseAndAccents) {
  BasicTokenizerOptions cased;
  cased.lower_case = false;
  cased.strip_accents = false;
  EXPECT_EQ(tokens("The Caf\u00e9 the", cased), (V{"The", "Caf\u00e9", "the"}));
  EXPECT_EQ(tokens("QUICK", cased), (V{"[UNK]"}));
}

TEST_F(WordPiece, CjkCharactersAreWords) {
  EXPECT_EQ(tokens("\u4e2d\u56fdhello"), (V{"\u4e2d", "\u56fd", "hello"}));
  BasicTokenizerOptions no_cjk;
  no_cjk.split_cjk = false;
  EXPECT_EQ(tokens("\u4e2d\u56fdhello", no_cjk), (V{"[UNK]"}));
}

TEST_F(WordPiece, ContinuationsAndUnknownWords) {
  EXPECT_EQ(tokens("unwanted running"), (V{"un", "##want", "##ed", "runn", "##ing"}));
  // A word whose tail matches nothing is one [UNK], even when a prefix matched.
  EXPECT_EQ(tokens("unxyz fox"), (V{"[UNK]", "fox"}));
  EXPECT_EQ(tokens("xyz"), (V{"[UNK]"}));
  // 100 characters are split greedily; 101 make the word unknown.
  EXPECT_EQ(tokens(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(tokens(std::string(101, 'a')), (V{"[UNK]"}));
}

TEST_F(WordPiece, CleanupOfControlsAndWhitespace) {
  EXPECT_EQ(tokens("hel\x01lo"), (V{"hello"}));          // control characters vanish
  EXPECT_EQ(tokens("hel\u200blo"), (V{"hello"}));        // so do format characters (Cf)
  EXPECT_EQ(tokens("hello\u00a0world\t\nfox"), (V{"hello", "world", "fox"}));  // NBSP is Zs
  EXPECT_EQ(tokens("  \t "), (V{}));
}

TEST_F(WordPiece, SpecialTokensInTheTextStayWhole) {
  EXPECT_EQ(tokens("hello [SEP] world[MASK]"), (V{"hello", "[SEP]", "world", "[MASK]"}));
  EXPECT_EQ(tokens("[sep]"), (V{"[UNK]", "[UNK]", "[UNK]"}));  // "[", "sep", "]"
}

TEST_F(WordPiece, EncodeSingleAndPair) {
  WordPieceTokenizer tok(vocab_file, {});
  std::vector<int64_t> ids, types;
  tok.encode("The fox", nullptr, 128, ids, types);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 5, 8, 3}));
  EXPECT_EQ(types, (std::vector<int64_t>{0, 0, 0, 0}));
  std::string b = "hello world";
  tok.encode("the fox", &b, 128, ids, types);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 5, 8, 3, 22, 23, 3}));
  EXPECT_EQ(types, (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1}));
  // Single: cut to max_length including [CLS] and [SEP].
  tok.encode("the quick brown fox", nullptr, 4, ids, types);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 5, 6, 3}));
  // Pair, budget 7 - 3 = 4 for (4, 2) tokens: the longer keeps 4 - 2 = 2.
  tok.encode("the quick brown fox", &b, 7, ids, types);
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 5, 6, 3, 22, 23, 3}));
  EXPECT_EQ(types, (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1}));
}

// The table of Hugging Face tokenizers' own truncation tests (max_length 7).
TEST(LongestFirst, MatchesHuggingFaceTokenizers) {
  struct Case { int64_t n1, n2, k1, k2; };
  const Case cases[] = {{0, 0, 0, 0}, {0, 2, 0, 2}, {0, 4, 0, 4}, {0, 8, 0, 7}, {2, 0, 2, 0}, {2, 2, 2, 2},
                        {2, 4, 2, 4}, {2, 8, 2, 5}, {4, 0, 4, 0}, {4, 2, 4, 2}, {4, 4, 3, 4}, {4, 8, 3, 4},
                        {8, 0, 7, 0}, {8, 2, 5, 2}, {8, 4, 4, 3}, {8, 8, 3, 4}};
  for (const Case& c : cases) {
    auto kept = longest_first_lengths(c.n1, c.n2, 7);
    EXPECT_EQ(kept.first, c.k1) << c.n1 << "," << c.n2;
    EXPECT_EQ(kept.second, c.k2) << c.n1 << "," << c.n2;
  }
}

TEST_F(WordPiece, VocabularyWithoutSpecialTokensIsAnError) {
  write_text(vocab_file, "hello\nworld\n");
  expect_error([&] { WordPieceTokenizer(vocab_file, {}); }, {vocab_file, "[CLS]"});
}

}  // namespace
}  // namespace sherl::test
