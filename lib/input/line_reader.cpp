#include "lib/input/line_reader.h"

#include <cerrno>
#include <cstring>
#include <istream>

#include "lib/core/error.h"

namespace sherl {

LineReader::LineReader(const std::string& path, const std::string& display, size_t max_line_bytes)
    : in_(path, std::ios::binary), display_(display.empty() ? path : display), max_line_bytes_(max_line_bytes) {
  if (!in_) throw error_at(display_, std::string("cannot open: ") + std::strerror(errno));
}

Error LineReader::too_long() const {
  return error_at(where(), "line longer than " + std::to_string(max_line_bytes_) + " bytes: not a text input?");
}

bool LineReader::next(std::string& line) {
  line.clear();
  // std::getline with a bound. The stream buffer hands out bytes without a virtual call
  // except when it refills (a read error ends the line as getline's does).
  std::streambuf* buf = in_.rdbuf();
  int c = buf->sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  ++line_;
  for (; c != std::char_traits<char>::eof() && c != '\n'; c = buf->sbumpc()) {
    // One byte of slack for a CR that is stripped below.
    if (line.size() > max_line_bytes_) throw too_long();
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > max_line_bytes_) throw too_long();
  if (line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

}  // namespace sherl
