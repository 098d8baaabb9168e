#pragma once
// A CSV list of image files: `path,label` rows, with an optional header line (recognised by
// a first field named "path"; it may name more columns, the label column then being found
// by name). Fields may be double-quoted (RFC 4180), e.g. a multi-label "cat,dog". Relative
// paths are resolved against the CSV file's directory.
#include <string>
#include <vector>

#include "lib/input/line_reader.h"

namespace sherl {

class ImageListReader {
 public:
  ImageListReader(const std::string& path, const std::string& display, const std::string& label_column);
  // Next row; false at the end. Throws naming file:line on a malformed row.
  bool next();
  const std::string& image_path() const { return image_path_; }  // resolved
  const std::string& label() const { return label_; }
  int64_t index() const { return index_; }
  std::string where() const { return lines_.where(); }
  const std::string& display() const { return lines_.display(); }

 private:
  bool parse_row(const std::string& line);
  LineReader lines_;
  std::string base_dir_, label_column_;
  size_t path_col_ = 0, label_col_ = 1, num_cols_ = 2;
  bool first_line_ = true;
  std::string image_path_, label_;
  int64_t index_ = -1;
};

// Splits one CSV line; throws naming `where` on an unterminated quote.
std::vector<std::string> split_csv(const std::string& line, const std::string& where);

}  // namespace sherl
