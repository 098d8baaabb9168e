#pragma once
// Tab-separated text with a header line naming the columns (GLUE's layout). Fields are
// taken literally: no quoting, as GLUE's readers use (csv.QUOTE_NONE). Empty lines are
// skipped; every other row must have as many fields as the header.
#include <string>
#include <vector>

#include "lib/input/line_reader.h"

namespace sherl {

class TsvReader {
 public:
  // Reads the header; throws naming the file when the file is empty.
  TsvReader(const std::string& path, const std::string& display);
  // Index of a header column; throws naming the file and listing the header when absent.
  size_t column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  // Next row; false at the end. Throws naming file:line on a wrong number of fields.
  bool next();
  const std::vector<std::string>& fields() const { return fields_; }
  const std::string& field(size_t i) const { return fields_[i]; }
  int64_t index() const { return index_; }  // 0-based row index (header excluded)
  std::string where() const { return lines_.where(); }
  const std::string& display() const { return lines_.display(); }

 private:
  LineReader lines_;
  std::vector<std::string> header_, fields_;
  int64_t index_ = -1;
};

std::vector<std::string> split_tabs(const std::string& line);

}  // namespace sherl
