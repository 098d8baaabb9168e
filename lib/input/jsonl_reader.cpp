#include "lib/input/jsonl_reader.h"

#include "lib/core/error.h"

namespace sherl {

JsonlReader::JsonlReader(const std::string& path, const std::string& display) : lines_(path, display) {}

bool JsonlReader::next() {
  std::string line;
  while (lines_.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      record_ = json::parse(line);
    } catch (const json::parse_error& e) {
      // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ..."
      std::string what = e.what();
      size_t pos = what.find("] ");
      throw error_at(where(), "malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
    }
    if (!record_.is_object()) throw error_at(where(), "expected a JSON object");
    ++index_;
    return true;
  }
  return false;
}

}  // namespace sherl
