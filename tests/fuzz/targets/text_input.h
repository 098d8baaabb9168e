#pragma once
// The TSV and JSON Lines targets share one driver: the whole text pipeline a tool runs
// (plan_input's label scan and selection, then open_source's stream, tokenised with the
// fuzz text model), with the options taken from the input's first byte.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sherl::fuzz {

int text_input(const std::string& format, const uint8_t* data, size_t size);

}  // namespace sherl::fuzz
