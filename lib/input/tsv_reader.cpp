#include "lib/input/tsv_reader.h"

#include <algorithm>

#include "lib/core/error.h"

namespace sherl {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

TsvReader::TsvReader(const std::string& path, const std::string& display) : lines_(path, display) {
  std::string line;
  while (lines_.next(line))
    if (!line.empty()) {
      header_ = split_tabs(line);
      return;
    }
  throw error_at(lines_.display(), "empty input: no header line");
}

bool TsvReader::has_column(const std::string& name) const {
  return std::find(header_.begin(), header_.end(), name) != header_.end();
}

size_t TsvReader::column(const std::string& name) const {
  auto it = std::find(header_.begin(), header_.end(), name);
  if (it == header_.end()) {
    std::string names;
    for (const auto& h : header_) names += (names.empty() ? "" : ", ") + h;
    throw error_at(lines_.display(), "the header has no column '" + name + "' (columns: " + names + ")");
  }
  return size_t(it - header_.begin());
}

bool TsvReader::next() {
  std::string line;
  while (lines_.next(line)) {
    if (line.empty()) continue;
    fields_ = split_tabs(line);
    if (fields_.size() != header_.size())
      throw error_at(where(), "row has " + std::to_string(fields_.size()) + " columns, the header has " +
                                  std::to_string(header_.size()));
    ++index_;
    return true;
  }
  return false;
}

}  // namespace sherl
