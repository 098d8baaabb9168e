#include "lib/input/line_reader.h"

#include <cerrno>
#include <cstring>

#include "lib/core/error.h"

namespace sherl {

LineReader::LineReader(const std::string& path, const std::string& display)
    : in_(path, std::ios::binary), display_(display.empty() ? path : display) {
  if (!in_) throw error_at(display_, std::string("cannot open: ") + std::strerror(errno));
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) throw error_at(display_, "read error after line " + std::to_string(line_));
    return false;
  }
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

}  // namespace sherl
