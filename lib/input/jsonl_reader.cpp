#include "lib/input/jsonl_reader.h"

#include "lib/core/error.h"

namespace sherl {

JsonlReader::JsonlReader(const std::string& path, const std::string& display) : lines_(path, display) {}

bool JsonlReader::next() {
  std::string line;
  while (lines_.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    record_ = parse_json(line, where(), "malformed JSON");
    if (!record_.is_object()) throw error_at(where(), "expected a JSON object");
    ++index_;
    return true;
  }
  return false;
}

}  // namespace sherl
