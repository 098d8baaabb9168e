// SentencePiece tokenisation against Debian's python3-sentencepiece, on a model that
// tests/python/sentencepiece_reference.py trains with spm_train: the same ids for ASCII,
// accents, CJK, emoji, unknown characters, whitespace runs, empty and long texts; then the
// families' special tokens, truncation, and refusals.
#include <gtest/gtest.h>

#include <fstream>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/input/sentencepiece_tokenizer.h"
#include "tests/support/python_reference.h"

namespace sherl {
namespace {

class SentencePiece : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(SHERL_SANITIZED)
    GTEST_SKIP() << "the SentencePiece plugin needs RTLD_DEEPBIND, which the sanitizers' runtime refuses";
#endif
  }
  static void SetUpTestSuite() { dir_ = new std::filesystem::path(test::python_reference("sentencepiece_reference.py")); }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model() { return (*dir_ / "spiece.model").string(); }
  static std::filesystem::path* dir_;
};
std::filesystem::path* SentencePiece::dir_ = nullptr;

TEST_F(SentencePiece, SameIdsAsTheReference) {
  SentencePieceTokenizer tokenizer(model(), SpecialTokens::AppendEos);
  json reference = read_json_file((*dir_ / "reference.json").string());
  ASSERT_GT(reference.size(), 20u);
  size_t unknown = 0;
  for (const auto& r : reference) {
    const std::string text = r.at("text").get<std::string>();
    std::vector<int64_t> expected = r.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(tokenizer.tokenize(text), expected) << text.substr(0, 80);
    unknown += std::count(expected.begin(), expected.end(), 2);
  }
  EXPECT_GT(unknown, 0u) << "the texts should include characters the model does not know";
}

TEST_F(SentencePiece, FamiliesAddTheirSpecialTokenAndTruncationKeepsIt) {
  SentencePieceTokenizer t5(model(), SpecialTokens::AppendEos);
  const std::vector<int64_t> pieces = t5.tokenize("the quick brown fox jumps over the lazy dog");
  ASSERT_GT(pieces.size(), 4u);
  std::vector<int64_t> ids, types;
  t5.encode("the quick brown fox jumps over the lazy dog", nullptr, 100, ids, types);
  std::vector<int64_t> with_eos = pieces;
  with_eos.push_back(1);  // </s>: --eos_id=1 in the reference's spm_train
  EXPECT_EQ(ids, with_eos);
  EXPECT_EQ(types, std::vector<int64_t>(ids.size(), 0));
  t5.encode("the quick brown fox jumps over the lazy dog", nullptr, 4, ids, types);
  EXPECT_EQ(ids, (std::vector<int64_t>{pieces[0], pieces[1], pieces[2], 1}));
  t5.encode("", nullptr, 4, ids, types);
  EXPECT_EQ(ids, std::vector<int64_t>{1});
  // The reference model has no <s>: a family that prepends it cannot use the model.
  EXPECT_THROW(SentencePieceTokenizer(model(), SpecialTokens::PrependBos), Error);
}

TEST_F(SentencePiece, RefusesWhatItCannotTokenise) {
  SentencePieceTokenizer tokenizer(model(), SpecialTokens::AppendEos);
  std::vector<int64_t> ids, types;
  const std::string b = "second";
  EXPECT_THROW(tokenizer.encode("first", &b, 16, ids, types), Error);  // pairs need a template
  try {
    tokenizer.tokenize("caf\xC3 au lait");  // a truncated UTF-8 sequence
    FAIL() << "tokenised text that is not UTF-8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
  const std::string not_a_model = (*dir_ / "reference.json").string();
  try {
    SentencePieceTokenizer bad(not_a_model, SpecialTokens::AppendEos);
    FAIL() << "loaded a JSON file as a SentencePiece model";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(not_a_model + ": not a SentencePiece model", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace sherl
