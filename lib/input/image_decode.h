#pragma once
// Decoding PNG (libpng) and JPEG (libjpeg) files to 8-bit pixels, channels interleaved.
#include <cstdint>
#include <string>
#include <vector>

namespace sherl {

// An 8-bit image, row-major, channels interleaved (HWC): 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
struct Image8 {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  uint8_t at(int64_t y, int64_t x, int64_t c) const { return pixels[size_t((y * width + x) * channels + c)]; }
};

// Decodes a PNG or JPEG file (told apart by their magic bytes, not the name). PNG: palette
// images are expanded to RGB(A), tRNS to alpha, bit depths < 8 to 8, 16-bit samples scaled
// to 8 bits (libpng rounds where PIL truncates: at most 1 unit apart). JPEG: grey or RGB;
// CMYK is refused. Throws sherl::Error naming `display` when the file is unreadable,
// truncated or not an image.
Image8 decode_image_file(const std::string& path, const std::string& display);

}  // namespace sherl
