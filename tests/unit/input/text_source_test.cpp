// TSV and JSON Lines sources: single sentences and pairs, label kinds, pre-tokenised ids,
// and the errors for bad rows.
#include <gtest/gtest.h>

#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

// ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 the5 cat6 sat7 dog8 ran9 ,10 .11
const std::vector<std::string> kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",
                                         "cat",   "sat",   "dog",   "ran",   ",",      "."};

struct TextFixture : ::testing::Test {
  ScratchDir dir;
  InputSpec spec;
  void SetUp() override { spec.model_dir = write_text_model(dir, kVocab); }
  using Ids = std::vector<int64_t>;
};

TEST_F(TextFixture, TsvSingleSentences) {
  spec.path = dir / "train.tsv";
  write_text(spec.path, "sentence\tlabel\nThe cat sat.\t1\r\nthe dog\t0\n\nran\t1\n");
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.format, "tsv");
  EXPECT_EQ(plan.selected, 3);
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"0", "1"}));
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].input_ids, (Ids{2, 5, 6, 7, 11, 3}));
  EXPECT_EQ(ex[0].token_type_ids, (Ids{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(ex[0].label.item<int64_t>(), 1);
  EXPECT_EQ(ex[1].input_ids, (Ids{2, 5, 8, 3}));
  EXPECT_EQ(ex[2].id, 2);
  EXPECT_FALSE(ex[0].pixel_values.defined());
}

TEST_F(TextFixture, TsvPairsByDefaultColumnsAndTruncation) {
  spec.path = dir / "pairs.tsv";
  write_text(spec.path, "idx\tsentence1\tsentence2\tlabel\n0\tthe cat sat\tthe dog ran\tentailment\n"
                        "1\tcat\tdog\tnot_entailment\n");
  spec.max_length = 7;  // budget 4 for (3, 3) tokens: 2 and 2
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"entailment", "not_entailment"}));
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].input_ids, (Ids{2, 5, 6, 3, 5, 8, 3}));
  EXPECT_EQ(ex[0].token_type_ids, (Ids{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(ex[1].input_ids, (Ids{2, 6, 3, 8, 3}));
  EXPECT_EQ(ex[1].label.item<int64_t>(), 1);
}

TEST_F(TextFixture, TsvNamedTextColumns) {
  spec.path = dir / "qa.tsv";
  write_text(spec.path, "question\tanswer\tscore\nthe cat\tsat\t0.25\n");
  spec.text_columns = {"question", "answer"};
  spec.label_column = "score";
  spec.label_kind = LabelKind::Regression;
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.num_labels, 1);
  EXPECT_TRUE(plan.label_names.empty());
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].input_ids, (Ids{2, 5, 6, 3, 7, 3}));
  EXPECT_EQ(ex[0].label.scalar_type(), torch::kFloat32);
  EXPECT_EQ(ex[0].label.sizes(), (std::vector<int64_t>{1}));
  EXPECT_EQ(ex[0].label[0].item<float>(), 0.25f);
}

TEST_F(TextFixture, TsvErrors) {
  spec.path = dir / "bad.tsv";
  write_text(spec.path, "sentence\tlabel\nthe cat\t1\nthe dog\n");
  expect_error([&] { plan_input(spec); }, {"bad.tsv:3", "1 columns", "header has 2"});
  write_text(spec.path, "text\tlabel\nthe cat\t1\n");
  expect_error([&] { plan_input(spec); }, {"bad.tsv", "no column 'sentence'", "text, label"});
  write_text(spec.path, "sentence\tgold\nthe cat\t1\n");
  expect_error([&] { plan_input(spec); }, {"bad.tsv", "no column 'label'"});
  write_text(spec.path, "");
  expect_error([&] { plan_input(spec); }, {"bad.tsv", "empty input"});
  write_text(spec.path, "sentence\tlabel\n");
  expect_error([&] { plan_input(spec); }, {"bad.tsv", "empty input"});
  write_text(spec.path, "sentence\tlabel\nthe cat\tlots\n");
  spec.label_kind = LabelKind::Regression;
  expect_error([&] { plan_input(spec); }, {"bad.tsv:2", "'lots' is not a number"});
}

TEST_F(TextFixture, JsonlTextPairsAndNumericLabelOrder) {
  spec.path = dir / "rows.jsonl";
  write_text(spec.path,
             "{\"sentence1\": \"the cat\", \"sentence2\": \"sat\", \"label\": 10}\n"
             "\n"
             "{\"sentence1\": \"dog\", \"sentence2\": \"ran\", \"label\": 9}\n"
             "{\"sentence1\": \"the\", \"sentence2\": \"dog\", \"label\": \"2\"}\n");
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.format, "jsonl");
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"2", "9", "10"}));  // numerically
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].input_ids, (Ids{2, 5, 6, 3, 7, 3}));
  EXPECT_EQ(ex[0].label.item<int64_t>(), 2);
  EXPECT_EQ(ex[1].id, 1);  // records are counted, blank lines are not
  EXPECT_EQ(ex[1].label.item<int64_t>(), 1);
  EXPECT_EQ(ex[2].label.item<int64_t>(), 0);
}

TEST_F(TextFixture, JsonlMultiLabel) {
  spec.path = dir / "tags.jsonl";
  write_text(spec.path,
             "{\"sentence\": \"the cat\", \"label\": [\"pet\", \"small\"]}\n"
             "{\"sentence\": \"dog\", \"label\": \"pet,loud\"}\n"
             "{\"sentence\": \"ran\", \"label\": []}\n");
  spec.label_kind = LabelKind::MultiLabel;
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"loud", "pet", "small"}));
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_TRUE(torch::equal(ex[0].label, torch::tensor({0.f, 1.f, 1.f})));
  EXPECT_TRUE(torch::equal(ex[1].label, torch::tensor({1.f, 1.f, 0.f})));
  EXPECT_TRUE(torch::equal(ex[2].label, torch::tensor({0.f, 0.f, 0.f})));
  // Selecting labels keeps rows with at least one of them and only their columns.
  spec.select_labels = {"small"};
  plan = plan_input(spec);
  EXPECT_EQ(plan.selected, 1);
  ex = drain(spec, plan);
  EXPECT_TRUE(torch::equal(ex[0].label, torch::tensor({1.f})));
  spec.per_label = 1;
  expect_error([&] { plan_input(spec); }, {"--per-label", "class labels"});
}

TEST_F(TextFixture, JsonlErrors) {
  spec.path = dir / "bad.jsonl";
  write_text(spec.path, "{\"sentence\": \"the cat\", \"label\": 1}\n{\"sentence\": \"dog\", \"label\": 0\n");
  expect_error([&] { plan_input(spec); }, {"bad.jsonl:2", "malformed JSON"});
  write_text(spec.path, "{\"sentence\": \"the cat\", \"label\": 1}\n[1, 2]\n");
  expect_error([&] { plan_input(spec); }, {"bad.jsonl:2", "JSON object"});
  write_text(spec.path, "{\"sentence\": \"the cat\"}\n");
  expect_error([&] { plan_input(spec); }, {"bad.jsonl:1", "no 'label' field"});
  write_text(spec.path, "{\"text\": \"the cat\", \"label\": 1}\n");
  InputPlan plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {"bad.jsonl:1", "no 'sentence' field"});
  write_text(spec.path, "{\"sentence\": 5, \"label\": 1}\n");
  plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {"bad.jsonl:1", "'sentence' is not a string"});
}

TEST_F(TextFixture, PreTokenisedIds) {
  spec.path = dir / "ids.jsonl";
  write_text(spec.path,
             "{\"input_ids\": [2, 5, 6, 3], \"label\": \"a\"}\n"
             "{\"input_ids\": [2, 8, 3, 9, 3], \"token_type_ids\": [0, 0, 0, 1, 1], \"label\": \"b\"}\n");
  InputPlan plan = plan_input(spec);
  auto ex = drain(spec, plan);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].input_ids, (Ids{2, 5, 6, 3}));
  EXPECT_EQ(ex[0].token_type_ids, (Ids{0, 0, 0, 0}));
  EXPECT_EQ(ex[1].token_type_ids, (Ids{0, 0, 0, 1, 1}));

  // config.json's vocab_size is 100: id 100 is out of range.
  write_text(spec.path, "{\"input_ids\": [2, 5, 3], \"label\": \"a\"}\n{\"input_ids\": [2, 100, 3], \"label\": \"a\"}\n");
  plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {"ids.jsonl:2", "input_ids[1] = 100", "vocab_size 100"});
  write_text(spec.path, "{\"input_ids\": [2, -1, 3], \"label\": \"a\"}\n");
  expect_error([&] { drain(spec, plan_input(spec)); }, {"ids.jsonl:1", "input_ids[1] = -1"});
  write_text(spec.path, "{\"input_ids\": [2, \"x\", 3], \"label\": \"a\"}\n");
  expect_error([&] { drain(spec, plan_input(spec)); }, {"ids.jsonl:1", "input_ids[1] is not an integer"});
  write_text(spec.path, "{\"input_ids\": [2, 5, 3], \"token_type_ids\": [0, 2, 0], \"label\": \"a\"}\n");
  expect_error([&] { drain(spec, plan_input(spec)); }, {"ids.jsonl:1", "token_type_ids[1] = 2", "type_vocab_size"});
  write_text(spec.path, "{\"input_ids\": [2, 5, 3], \"token_type_ids\": [0, 0], \"label\": \"a\"}\n");
  expect_error([&] { drain(spec, plan_input(spec)); }, {"ids.jsonl:1", "as long as"});
  spec.max_length = 2;
  write_text(spec.path, "{\"input_ids\": [2, 5, 3], \"label\": \"a\"}\n");
  expect_error([&] { drain(spec, plan_input(spec)); }, {"ids.jsonl:1", "3 tokens", "max_length 2"});
}

TEST_F(TextFixture, ModelWithoutVocabularyNeedsIds) {
  ScratchDir other;
  spec.model_dir = write_text_model(other, {});
  spec.path = dir / "mixed.jsonl";
  write_text(spec.path, "{\"input_ids\": [0, 5, 2], \"label\": 1}\n{\"sentence\": \"the cat\", \"label\": 0}\n");
  InputPlan plan = plan_input(spec);
  auto source = open_source(spec, plan);
  RawExample e;
  ASSERT_TRUE(source->next(e));
  EXPECT_EQ(e.input_ids, (Ids{0, 5, 2}));
  expect_error([&] { source->next(e); }, {"mixed.jsonl:2", "has no tokenizer that sherl reads", "input_ids"});
  spec.path = dir / "rows.tsv";
  write_text(spec.path, "sentence\tlabel\nthe cat\t1\n");
  expect_error([&] { plan_input(spec); }, {"rows.tsv", "has no tokenizer that sherl reads"});
}

TEST_F(TextFixture, TokenizerConfigCasedModel) {
  ScratchDir other;
  spec.model_dir = write_text_model(other, {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "The", "the"},
                                    R"({"do_lower_case": false})");
  spec.path = dir / "rows.jsonl";
  write_text(spec.path, "{\"sentence\": \"The the\", \"label\": 1}\n");
  auto ex = drain(spec, plan_input(spec));
  EXPECT_EQ(ex.at(0).input_ids, (Ids{2, 4, 5, 3}));
}

TEST(Collate, PadsTextToTheLongestSequence) {
  std::vector<RawExample> batch(3);
  batch[0].input_ids = {2, 5, 3};
  batch[0].token_type_ids = {0, 0, 0};
  batch[1].input_ids = {2, 5, 6, 3, 7, 3};
  batch[1].token_type_ids = {0, 0, 0, 0, 1, 1};
  batch[2].input_ids = {2, 3};  // no token types: zeros
  ModelInputs in = collate(batch, 1);
  EXPECT_TRUE(torch::equal(in.input_ids, torch::tensor({2, 5, 3, 1, 1, 1, 2, 5, 6, 3, 7, 3, 2, 3, 1, 1, 1, 1},
                                                       torch::kInt64).view({3, 6})));
  EXPECT_TRUE(torch::equal(in.attention_mask, torch::tensor({1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
                                                            torch::kInt64).view({3, 6})));
  EXPECT_TRUE(torch::equal(in.token_type_ids, torch::tensor({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0},
                                                            torch::kInt64).view({3, 6})));
  EXPECT_FALSE(in.pixel_values.defined());
}

TEST(Collate, StacksImages) {
  std::vector<RawExample> batch(2);
  batch[0].pixel_values = torch::zeros({1, 4, 4});
  batch[1].pixel_values = torch::ones({1, 4, 4});
  ModelInputs in = collate(batch, 0);
  EXPECT_EQ(in.pixel_values.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_EQ(in.pixel_values[1].sum().item<float>(), 16.f);
  EXPECT_FALSE(in.input_ids.defined());
  batch[1].pixel_values = torch::ones({1, 5, 4});
  expect_error([&] { collate(batch, 0); }, {"collate", "image shape"});
}

}  // namespace
}  // namespace sherl::test
