#include "lib/input/image_decode.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstdio>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "lib/core/error.h"

namespace sherl {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path, const std::string& display) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw error_at(display, "is a directory, not an image file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error_at(display, std::string("cannot open image: ") + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw error_at(display, "read error");
  return bytes;
}

bool is_png(const std::vector<uint8_t>& b) {
  return b.size() >= 8 && png_sig_cmp(b.data(), 0, 8) == 0;
}

bool is_jpeg(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// libpng's simplified API: no setjmp in our code, errors come back as a message.
Image8 decode_png(const std::vector<uint8_t>& bytes, const std::string& display) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    throw error_at(display, std::string("cannot decode PNG: ") + image.message);
  // Keep the file's own channels (grey / grey+alpha / RGB / RGBA) at 8 bits.
  png_uint_32 format = image.format & (PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLOR);
  image.format = format;
  Image8 out;
  out.width = image.width;
  out.height = image.height;
  out.channels = PNG_IMAGE_SAMPLE_CHANNELS(format);
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    throw error_at(display, "cannot decode PNG: " + message);
  }
  return out;
}

// libjpeg reports fatal errors through error_exit, which must not return: we longjmp back
// to decode_jpeg. Everything that outlives the jump lives in this struct (in memory, so
// its values after the jump are well defined).
struct JpegContext {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* ctx = reinterpret_cast<JpegContext*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, ctx->message);
  std::longjmp(ctx->jump, 1);
}

// Warnings are silent, except a premature end of file: libjpeg would pad the image with
// grey, PIL refuses it ("image file is truncated"), and so do we.
void jpeg_warn(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

Image8 decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& display) {
  jpeg_decompress_struct cinfo;
  JpegContext ctx;
  Image8 out;
  cinfo.err = jpeg_std_error(&ctx.mgr);
  ctx.mgr.error_exit = jpeg_fail;
  ctx.mgr.emit_message = jpeg_warn;
  ctx.message[0] = '\0';
  if (setjmp(ctx.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw error_at(display, std::string("cannot decode JPEG: ") + ctx.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    throw error_at(display, "CMYK JPEG images are not supported");
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out.width = cinfo.output_width;
  out.height = cinfo.output_height;
  out.channels = cinfo.output_components;
  out.pixels.resize(size_t(out.width * out.height * out.channels));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + size_t(cinfo.output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

}  // namespace

Image8 decode_image_file(const std::string& path, const std::string& display) {
  std::vector<uint8_t> bytes = read_bytes(path, display);
  if (bytes.empty()) throw error_at(display, "empty image file");
  if (is_png(bytes)) return decode_png(bytes, display);
  if (is_jpeg(bytes)) return decode_jpeg(bytes, display);
  throw error_at(display, "not a PNG or JPEG image");
}

}  // namespace sherl
