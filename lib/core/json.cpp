#include "lib/core/json.h"

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace sherl {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at ...".
std::string without_tag(const std::string& message) {
  size_t pos = message.find("] ");
  return message.compare(0, 1, "[") == 0 && pos != std::string::npos ? message.substr(pos + 2) : message;
}

// True when brackets outside strings nest deeper than `limit`. Exact for valid JSON; for
// invalid text the parser reports the error anyway. (A separate pass: nlohmann's parser
// callback, the other way to see the depth, makes parsing quadratic in 3.11.)
bool nests_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

json parse_json(std::string_view text, const std::string& where, const std::string& what) {
  if (nests_deeper_than(text, kMaxJsonDepth))
    throw error_at(where, what + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number beyond double's range ("1e400").
    throw error_at(where, what + ": " + without_tag(e.what()));
  }
}

json read_json_file(const std::string& path) { return parse_json(read_file(path), path); }

}  // namespace sherl
