#pragma once
// JSON Lines: one JSON object per line; blank lines are skipped.
#include <string>

#include "lib/core/json.h"
#include "lib/input/line_reader.h"

namespace sherl {

class JsonlReader {
 public:
  JsonlReader(const std::string& path, const std::string& display);
  // Next record; false at the end. Throws naming file:line on malformed JSON or a value
  // that is not an object.
  bool next();
  const json& record() const { return record_; }
  int64_t index() const { return index_; }  // 0-based record index
  std::string where() const { return lines_.where(); }
  const std::string& display() const { return lines_.display(); }

 private:
  LineReader lines_;
  json record_;
  int64_t index_ = -1;
};

}  // namespace sherl
