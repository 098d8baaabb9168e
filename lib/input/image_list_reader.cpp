#include "lib/input/image_list_reader.h"

#include <algorithm>

#include "lib/core/error.h"

namespace sherl {

std::vector<std::string> split_csv(const std::string& line, const std::string& where) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  if (quoted) throw error_at(where, "unterminated quoted field");
  return out;
}

ImageListReader::ImageListReader(const std::string& path, const std::string& display,
                                 const std::string& label_column)
    : lines_(path, display), label_column_(label_column) {
  size_t slash = path.rfind('/');
  base_dir_ = slash == std::string::npos ? "." : path.substr(0, slash);
}

bool ImageListReader::parse_row(const std::string& line) {
  std::vector<std::string> fields = split_csv(line, where());
  if (first_line_) {
    first_line_ = false;
    if (fields[0] == "path") {  // a header: find the columns by name
      auto label = std::find(fields.begin(), fields.end(), label_column_);
      if (label == fields.end())
        throw error_at(where(), "the header has no column '" + label_column_ + "'");
      label_col_ = size_t(label - fields.begin());
      num_cols_ = fields.size();
      return false;
    }
  }
  if (fields.size() != num_cols_)
    throw error_at(where(), "row has " + std::to_string(fields.size()) + " columns, expected " +
                                std::to_string(num_cols_) + " (path,label)");
  image_path_ = fields[path_col_];
  if (image_path_.empty()) throw error_at(where(), "empty image path");
  if (image_path_[0] != '/') image_path_ = base_dir_ + "/" + image_path_;
  label_ = fields[label_col_];
  return true;
}

bool ImageListReader::next() {
  std::string line;
  while (lines_.next(line)) {
    if (line.empty()) continue;
    if (!parse_row(line)) continue;
    ++index_;
    return true;
  }
  return false;
}

}  // namespace sherl
