#pragma once
// The names of a closed set's values, one table per enum, which both its printing and its
// parsing read: a value added to the enum is named in one place. A table may give a value
// more than one name (aliases); the first is the one printed.
#include <cstddef>
#include <string>

#include "lib/core/error.h"

namespace sherl {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E, size_t N>
std::string name_of(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names)
    if (n.value == value) return n.name;
  return "?";
}

// Throws sherl::Error "unknown <what> '<text>' (expected a, b or c)" (the printed names).
template <typename E, size_t N>
E parse_name(const EnumName<E> (&names)[N], const std::string& text, const std::string& what) {
  std::string choices;
  size_t printed = 0;
  for (const auto& n : names) {
    if (text == n.name) return n.value;
    if (name_of(names, n.value) != n.name) continue;  // an alias
    choices += (printed ? ", " : "") + std::string(n.name);
    ++printed;
  }
  size_t last = choices.rfind(", ");
  if (last != std::string::npos) choices.replace(last, 2, " or ");
  throw Error("unknown " + what + " '" + text + "' (expected " + choices + ")");
}

}  // namespace sherl
