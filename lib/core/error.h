#pragma once
// The one exception type the library throws for bad input or failed I/O. Its message is a
// complete, one-line sentence meant for a user: it names the file (and where useful the
// dataset, tensor, line or key) and what is wrong, e.g. "data/shard-00001.h5: dataset
// 'offsets' is not monotone at index 17". Tools print it after "<tool>: error: ".
#include <stdexcept>
#include <string>

namespace sherl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds "<where>: <what>", the shape of every message.
inline Error error_at(const std::string& where, const std::string& what) {
  return Error(where + ": " + what);
}

// `e` as a message about `where`: prefixed with it, unless it already starts with it (an
// error from a parser that names no file, rethrown by the code that knows the file).
inline Error error_at(const std::string& where, const Error& e) {
  const std::string what = e.what();
  return what.rfind(where, 0) == 0 ? e : error_at(where, what);
}

}  // namespace sherl
