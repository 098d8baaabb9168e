// parse_json: nlohmann's parser with a nesting limit and one-line messages naming the file.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "lib/core/error.h"
#include "lib/core/json.h"

namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string error_of(const std::string& text) {
  try {
    sherl::parse_json(text, "dir/f.json");
  } catch (const sherl::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParseJson, AcceptsNestingUpToTheLimit) {
  sherl::json j = sherl::parse_json(nested(sherl::kMaxJsonDepth), "f.json");
  int depth = 0;
  for (const sherl::json* v = &j; v->is_array(); v = v->empty() ? nullptr : &(*v)[0]) {
    ++depth;
    if (v->empty()) break;
  }
  EXPECT_EQ(depth, sherl::kMaxJsonDepth);
}

TEST(ParseJson, RefusesDeeperNestingQuickly) {
  EXPECT_EQ(error_of(nested(sherl::kMaxJsonDepth + 1)), "dir/f.json: not valid JSON: nested deeper than 64 levels");
  // A million levels would overflow the stack of a recursive walk (and cost ~100 MB);
  // the refusal comes before any of that.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of("{\"a\": " + nested(1000000) + "}"), "dir/f.json: not valid JSON: nested deeper than 64 levels");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
}

TEST(ParseJson, BracketsInStringsDoNotCount) {
  std::string brackets(200, '[');
  sherl::json j = sherl::parse_json("{\"a\": \"" + brackets + "\\\"" + brackets + "\", \"b\": [1]}", "f.json");
  EXPECT_EQ(j["a"].get<std::string>(), brackets + "\"" + brackets);
  EXPECT_EQ(j["b"][0], 1);
}

TEST(ParseJson, NumberBeyondDoubleRangeIsAnErrorNamingTheFile) {
  // nlohmann throws out_of_range, not parse_error, for these (found by fuzzing).
  EXPECT_EQ(error_of("{\"shape\": [1e3084]}"), "dir/f.json: not valid JSON: number overflow parsing '1e3084'");
  EXPECT_EQ(error_of("-1e400"), "dir/f.json: not valid JSON: number overflow parsing '-1e400'");
  // Integers beyond 64 bits are not an overflow: they become doubles.
  EXPECT_TRUE(sherl::parse_json("18446744073709551616", "f.json").is_number_float());
}

TEST(ParseJson, MalformedTextNamesTheFileWithoutNlohmannsTag) {
  std::string msg = error_of(R"({"a": )");
  EXPECT_EQ(msg.rfind("dir/f.json: not valid JSON: parse error at line 1", 0), 0u) << msg;
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
  try {
    sherl::parse_json("[1,", "x.jsonl:3", "malformed JSON");
    FAIL();
  } catch (const sherl::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("x.jsonl:3: malformed JSON: parse error", 0), 0u) << e.what();
  }
}

}  // namespace
