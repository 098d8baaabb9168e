#include "lib/core/json.h"

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace sherl {

json read_json_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw error_at(path, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace sherl
