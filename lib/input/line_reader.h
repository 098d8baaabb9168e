#pragma once
// Line-by-line reading of a text input with 1-based line numbers for messages. Strips a
// trailing CR (files written on Windows) and a UTF-8 byte-order mark on the first line.
// A line longer than the limit is refused with an error naming the file and line, after
// reading no more than the limit: memory stays bounded whatever the input (a file or a
// pipe with no newline at all).
#include <cstdint>
#include <fstream>
#include <string>

#include "lib/core/error.h"

namespace sherl {

// The default limit: far above any sentence, record or image list row, small enough that
// one line never dominates the tools' memory.
constexpr size_t kMaxLineBytes = size_t(16) << 20;

class LineReader {
 public:
  LineReader(const std::string& path, const std::string& display, size_t max_line_bytes = kMaxLineBytes);
  bool next(std::string& line);  // false at the end of the file
  int64_t line_number() const { return line_; }
  const std::string& display() const { return display_; }
  std::string where() const { return display_ + ":" + std::to_string(line_); }

 private:
  Error too_long() const;
  std::ifstream in_;
  std::string display_;
  size_t max_line_bytes_;
  int64_t line_ = 0;
};

}  // namespace sherl
