// Byte-level BPE against tests/python/bpe_reference.py (GPT-2's published merge loop and
// python3-regex running each family's published pattern) on merges it learns: the same ids
// for CLIP's files and for tokenizer.json in GPT-2, Llama 3 and Qwen2 style, over ASCII,
// accents and combining marks, CJK, emoji, Unicode whitespace, digits, contractions, added
// tokens in the text, empty and long texts. Then examples worked by hand, special tokens and
// truncation, a 1 MB line, and refusals.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "lib/core/atomic_file.h"  // read_file
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/input/bpe_tokenizer.h"
#include "tests/support/python_reference.h"

namespace sherl {
namespace {

class Bpe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new std::filesystem::path(test::python_reference("bpe_reference.py")); }
  static void TearDownTestSuite() { delete dir_; }
  static std::string at(const std::string& family, const std::string& file) { return (*dir_ / family / file).string(); }
  static std::unique_ptr<BpeTokenizer> load(const std::string& family) {
    return family == "clip" ? BpeTokenizer::from_clip_files(at("clip", "vocab.json"), at("clip", "merges.txt"))
                            : BpeTokenizer::from_tokenizer_json(at(family, "tokenizer.json"));
  }
  static std::filesystem::path* dir_;
};
std::filesystem::path* Bpe::dir_ = nullptr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(Bpe, SameIdsAsTheReferenceInEveryFamily) {
  for (const std::string family : {"clip", "gpt2", "llama3", "qwen2"}) {
    auto tokenizer = load(family);
    const json reference = read_json_file(at(family, "reference.json"));
    ASSERT_GT(reference.size(), 40u);
    size_t merged = 0;
    for (const auto& r : reference) {
      const std::string text = r.at("text").get<std::string>();
      const std::vector<int64_t> expected = r.at("ids").get<std::vector<int64_t>>();
      EXPECT_EQ(tokenizer->tokenize(text), expected) << family << ": " << text.substr(0, 80);
      // Merged pieces come after the byte symbols (and CLIP's suffixed ones).
      const int64_t first_merged = family == "clip" ? 512 : 256;
      merged += std::count_if(expected.begin(), expected.end(), [&](int64_t id) { return id >= first_merged; });
    }
    EXPECT_GT(merged, 100u) << family << ": the texts should exercise the merges";
  }
}

TEST_F(Bpe, SpecialTokensOfEachFamilyAndTruncationKeepsThem) {
  for (const std::string family : {"clip", "gpt2", "llama3", "qwen2"}) {
    auto tokenizer = load(family);
    const json specials = read_json_file(at(family, "specials.json"));
    const auto prefix = specials["prefix"].get<std::vector<int64_t>>(), suffix = specials["suffix"].get<std::vector<int64_t>>();
    EXPECT_EQ(prefix.size(), family == "clip" || family == "llama3" ? 1u : 0u) << family;
    const std::string text = "the quick brown fox jumps over the lazy dog";
    const std::vector<int64_t> pieces = tokenizer->tokenize(text);
    ASSERT_GT(pieces.size(), 6u);
    std::vector<int64_t> ids, types, expected = prefix;
    expected.insert(expected.end(), pieces.begin(), pieces.end());
    expected.insert(expected.end(), suffix.begin(), suffix.end());
    tokenizer->encode(text, nullptr, 1000, ids, types);
    EXPECT_EQ(ids, expected) << family;
    EXPECT_EQ(types, std::vector<int64_t>(ids.size(), 0));
    const int64_t specials_count = int64_t(prefix.size() + suffix.size());
    tokenizer->encode(text, nullptr, specials_count + 3, ids, types);
    expected = prefix;
    expected.insert(expected.end(), pieces.begin(), pieces.begin() + 3);
    expected.insert(expected.end(), suffix.begin(), suffix.end());
    EXPECT_EQ(ids, expected) << family << ": truncation keeps the special tokens";
    tokenizer->encode("", nullptr, 8, ids, types);
    expected = prefix;
    expected.insert(expected.end(), suffix.begin(), suffix.end());
    EXPECT_EQ(ids, expected) << family;
    EXPECT_LE(int64_t(tokenizer->size()), 1000);
  }
}

// The published patterns on texts whose words can be worked out by hand: each word is one
// token when the vocabulary holds it, so the split shows in the ids.
TEST(BpePreTokenizer, SplitsAsThePublishedPatternsDo) {
  using W = std::vector<std::string>;
  EXPECT_EQ(BpePreTokenizer(BpePattern::Gpt2).split("Hello world  x's\n"), (W{"Hello", " world", " ", " x", "'s", "\n"}));
  EXPECT_EQ(BpePreTokenizer(BpePattern::Llama3).split("I'M 12345 ok!!\n\n"),
            (W{"I", "'M", " ", "123", "45", " ok", "!!\n\n"}));
  EXPECT_EQ(BpePreTokenizer(BpePattern::Qwen2).split("I'M 123"), (W{"I", "'M", " ", "1", "2", "3"}));
  EXPECT_EQ(BpePreTokenizer(BpePattern::Clip).split(clip_clean("A  photo\tof 2 CATS!!")),
            (W{"a", "photo", "of", "2", "cats", "!!"}));
  EXPECT_EQ(BpePreTokenizer(BpePattern::Gpt2).split(""), W{});
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");  // e + combining acute -> é
  EXPECT_EQ(clip_clean("\xC4\xB0" "A\xE3\x80\x80" "B"), "i\xCC\x87" "a b");  // İ lower-cases to i + dot; U+3000 is a space
}

TEST(ByteLevelBpe, MergesByRankAsWorkedByHand) {
  // GPT-2's table: printable bytes stand for themselves, space is U+0120 'Ġ', newline U+010A.
  EXPECT_EQ(byte_symbols()['a'], "a");
  EXPECT_EQ(byte_symbols()[' '], "\xC4\xA0");
  EXPECT_EQ(byte_symbols()['\n'], "\xC4\x8A");
  BpeModelSpec spec;
  for (int b = 0; b < 256; ++b) spec.vocab[byte_symbols()[size_t(b)]] = b;
  int64_t next = 256;
  for (const char* piece : {"ll", "he", "hell", "hello", "lo", "el"}) spec.vocab[piece] = next++;
  // "l l" before "h e" before "he ll": "hello" -> he ll o -> hell o -> hello.
  spec.merges = {{"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {"l", "o"}, {"e", "l"}};
  ByteLevelBpe bpe(spec, "hand");
  std::vector<int64_t> ids;
  bpe.encode_word("hello", ids);
  EXPECT_EQ(ids, std::vector<int64_t>{259});
  ids.clear();
  bpe.encode_word("yellow", ids);  // y e ll o w: "l l" outranks "e l" and "l o"
  EXPECT_EQ(ids, (std::vector<int64_t>{'y', 'e', 256, 'o', 'w'}));
  ids.clear();
  bpe.encode_word("lll", ids);  // the left pair merges first
  EXPECT_EQ(ids, (std::vector<int64_t>{256, 'l'}));
  // A pair listed twice takes its last rank, as GPT-2's and Hugging Face's rank tables do:
  // "t h" (rank 1) then outranks "h e" (rank 2).
  BpeModelSpec twice;
  for (int b = 0; b < 256; ++b) twice.vocab[byte_symbols()[size_t(b)]] = b;
  twice.vocab["th"] = 256;
  twice.vocab["he"] = 257;
  twice.merges = {{"h", "e"}, {"t", "h"}, {"h", "e"}};
  ids.clear();
  ByteLevelBpe(twice, "hand").encode_word("the", ids);
  EXPECT_EQ(ids, (std::vector<int64_t>{256, 'e'}));
  // ignore_merges (Llama 3): a word in the vocabulary is one token, whatever its merges say.
  spec.vocab["yel"] = next++;
  spec.ignore_merges = true;
  ids.clear();
  ByteLevelBpe(spec, "hand").encode_word("yel", ids);
  EXPECT_EQ(ids, std::vector<int64_t>{262});
}

// merges.txt with \r\n or lone \r line ends reads as with \n.
TEST_F(Bpe, ClipMergesReadWithAnyLineEnd) {
  const std::string text = read_file(at("clip", "merges.txt"));
  auto reference = load("clip");
  for (const std::string& end : {"\r\n", "\r"}) {
    std::string changed;
    for (char c : text) changed += c == '\n' ? end : std::string(1, c);
    const std::string file = (*dir_ / "clip-merges-variant.txt").string();
    std::ofstream(file, std::ios::binary) << changed;
    auto tokenizer = BpeTokenizer::from_clip_files(at("clip", "vocab.json"), file);
    EXPECT_EQ(tokenizer->tokenize("the quick brown fox"), reference->tokenize("the quick brown fox"));
  }
}

TEST_F(Bpe, AMegabyteLineIsTokenisedInLinearishTime) {
  auto tokenizer = load("llama3");
  const std::vector<int64_t> unit = tokenizer->tokenize(" the lazy dog");  // words keep their leading space
  std::string line;
  for (int i = 0; i < 80000; ++i) line += " the lazy dog";  // about 1 MB
  auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> ids = tokenizer->tokenize(line);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(ids.size(), unit.size() * 80000);
  for (size_t i = 0; i < ids.size(); i += unit.size() * 997)
    EXPECT_TRUE(std::equal(unit.begin(), unit.end(), ids.begin() + std::ptrdiff_t(i)));
  // One unbroken word of 1 MB: merging is O(n log n), not the reference loop's O(n^2).
  start = std::chrono::steady_clock::now();
  ids = tokenizer->tokenize(std::string(1 << 20, 'x'));
  const double word_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(ids.empty());
  EXPECT_LT(seconds + word_seconds, 60.0);
  std::cerr << "1 MB of words: " << seconds << " s; 1 MB word: " << word_seconds << " s\n";
}

TEST_F(Bpe, RefusesWhatItCannotRead) {
  auto tokenizer = load("gpt2");
  std::vector<int64_t> ids, types;
  const std::string b = "second";
  EXPECT_NE(error_of([&] { tokenizer->encode("first", &b, 16, ids, types); }).find("template"), std::string::npos);
  EXPECT_NE(error_of([&] { tokenizer->tokenize("caf\xC3 au lait"); }).find("not valid UTF-8"), std::string::npos);
  // tokenizer.json variants this tokenizer does not implement: one line naming file and key.
  const json good = read_json_file(at("llama3", "tokenizer.json"));
  const std::string file = (*dir_ / "variant-tokenizer.json").string();
  auto refusal = [&](const std::function<void(json&)>& change) {
    json j = good;
    change(j);
    std::ofstream(file) << j.dump();
    return error_of([&] { BpeTokenizer::from_tokenizer_json(file); });
  };
  auto expect_refusal = [&](const std::function<void(json&)>& change, const std::string& words) {
    const std::string e = refusal(change);
    EXPECT_EQ(e.rfind(file + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(words), std::string::npos) << e;
  };
  expect_refusal([](json& j) { j["model"]["byte_fallback"] = true; }, "byte_fallback");
  expect_refusal([](json& j) { j["model"]["type"] = "WordPiece"; }, "'WordPiece' is not supported");
  expect_refusal([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "normalizer type 'NFKC'");
  expect_refusal([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+"; },
                 "pattern '\\w+' is not supported");
  expect_refusal([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "pre_tokenizer of type 'Whitespace'");
  expect_refusal([](json& j) { j["post_processor"] = {{"type", "RobertaProcessing"}}; }, "'RobertaProcessing'");
  expect_refusal([](json& j) { j["added_tokens"][0]["lstrip"] = true; }, "'lstrip' is not supported");
  expect_refusal([](json& j) { j["model"]["merges"][0] = "onlyone"; }, "merge 1");
  expect_refusal([](json& j) { j["model"]["merges"].push_back("zq qz"); }, "is not in the vocabulary");
  expect_refusal([](json& j) { j["model"]["vocab"].erase("a"); }, "the byte symbol 'a'");
  expect_refusal([](json& j) { j["added_tokens"][0]["id"] = int64_t(1) << 40; }, "added_tokens[0] has an invalid id");
  expect_refusal([](json& j) { j["post_processor"]["processors"][1]["single"][1] = {{"Sequence", {{"id", 1}}}}; },
                 "must hold the text ($A) once");
  expect_refusal([](json& j) { j["post_processor"]["processors"][1]["single"][0] = {{"SpecialToken", 5}}; },
                 "special token '' of the template has no ids");
  expect_refusal([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = 3; }, "only behavior Isolated");
  expect_refusal([](json& j) { j["model"]["merges"] = 3; }, "model.merges must be a list");
  std::ofstream(file) << "{\"model\": ";
  EXPECT_EQ(error_of([&] { BpeTokenizer::from_tokenizer_json(file); }).rfind(file + ": not valid JSON", 0), 0u);
}

}  // namespace
}  // namespace sherl
