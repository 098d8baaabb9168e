#pragma once
// nlohmann::json, plus reading a JSON file with errors that name the file.
#include <nlohmann/json.hpp>

#include <string>

namespace sherl {
using json = nlohmann::json;
// Parses the file; throws sherl::Error("<path>: not valid JSON: ...") or a read error.
json read_json_file(const std::string& path);
}  // namespace sherl
