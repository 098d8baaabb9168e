#pragma once
// nlohmann::json, plus parsing with a nesting limit and reading a JSON file with errors that
// name the file.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace sherl {
using json = nlohmann::json;

// Deeper nesting than this is refused while parsing. nlohmann::json copies, compares and
// dumps values recursively, and every level costs a heap allocation, so a hostile file of
// "[[[[..." would otherwise overflow the stack or exhaust memory; no file the tools read
// nests beyond a handful of levels.
constexpr int kMaxJsonDepth = 64;

// Parses `text`; throws sherl::Error("<where>: <what>: <detail>"), where detail is
// nlohmann's message without its "[json.exception...]" tag (malformed text, or a number
// beyond double's range), or says the nesting is too deep.
json parse_json(std::string_view text, const std::string& where, const std::string& what = "not valid JSON");
// Parses the file; throws sherl::Error("<path>: not valid JSON: ...") or a read error.
json read_json_file(const std::string& path);
}  // namespace sherl
