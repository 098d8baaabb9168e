#pragma once
// Line-by-line reading of a text input with 1-based line numbers for messages. Strips a
// trailing CR (files written on Windows) and a UTF-8 byte-order mark on the first line.
#include <fstream>
#include <string>

namespace sherl {

class LineReader {
 public:
  LineReader(const std::string& path, const std::string& display);
  bool next(std::string& line);  // false at the end of the file
  int64_t line_number() const { return line_; }
  const std::string& display() const { return display_; }
  std::string where() const { return display_ + ":" + std::to_string(line_); }

 private:
  std::ifstream in_;
  std::string display_;
  int64_t line_ = 0;
};

}  // namespace sherl
