#include "lib/input/idx_reader.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lib/core/error.h"

namespace sherl {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kMaxDims = 4;

bool starts_with_gzip_magic(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char magic[2] = {0, 0};
  size_t n = std::fread(magic, 1, 2, f);
  std::fclose(f);
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::string item_name(int64_t i, int64_t n) {
  return "item " + std::to_string(i) + " of " + std::to_string(n);
}

}  // namespace

IdxReader::IdxReader(const std::string& path, const std::string& display)
    : path_(path), display_(display.empty() ? path : display) {
  compressed_ = starts_with_gzip_magic(path);
  gz_.reset(gzopen(path.c_str(), "rb"));
  if (!gz_) throw error_at(display_, std::string("cannot open: ") + std::strerror(errno));
  gzbuffer(gz_.get(), 1 << 16);
  uint8_t magic[4];
  read_exact(magic, 4, "the IDX header");
  if (magic[0] != 0 || magic[1] != 0)
    throw error_at(display_, "not an IDX file (bad magic bytes)");
  if (magic[2] != kUnsignedByte) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02x", magic[2]);
    throw error_at(display_, std::string("IDX element type ") + type +
                                 " is not supported (only 0x08, unsigned byte)");
  }
  int ndims = magic[3];
  if (ndims < 1 || ndims > kMaxDims)
    throw error_at(display_, "IDX file has " + std::to_string(ndims) +
                                 " dimensions (expected 1 to " + std::to_string(kMaxDims) + ")");
  item_bytes_ = 1;
  for (int d = 0; d < ndims; ++d) {
    uint8_t be[4];
    read_exact(be, 4, "the IDX header");
    int64_t v = (int64_t(be[0]) << 24) | (int64_t(be[1]) << 16) | (int64_t(be[2]) << 8) | be[3];
    if (d > 0 && v == 0) throw error_at(display_, "IDX dimension " + std::to_string(d) + " is 0");
    dims_.push_back(v);
    if (d > 0) item_bytes_ *= v;
    // Real IDX items are small images; this also keeps the product far from overflow.
    if (item_bytes_ > (int64_t(1) << 30))
      throw error_at(display_, "IDX item size over 1 GiB: not a plausible IDX file");
  }
  header_bytes_ = 4 + 4 * int64_t(ndims);
}

void IdxReader::read_exact(void* out, int64_t n, const char* what) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    unsigned chunk = unsigned(std::min<int64_t>(n, 1 << 30));
    int got = gzread(gz_.get(), p, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(gz_.get(), &code);
      throw error_at(display_, std::string("truncated or corrupt in ") + what + " (zlib: " + msg + ")");
    }
    if (got == 0) throw error_at(display_, std::string("truncated: the file ends in ") + what);
    p += got;
    n -= got;
  }
}

void IdxReader::read(uint8_t* out) {
  if (position_ >= count())
    throw error_at(display_, "read past the last of " + std::to_string(count()) + " items");
  std::string what = item_name(position_, count());
  read_exact(out, item_bytes_, what.c_str());
  ++position_;
}

void IdxReader::skip() {
  if (!compressed_) {
    if (position_ >= count())
      throw error_at(display_, "read past the last of " + std::to_string(count()) + " items");
    if (gzseek(gz_.get(), item_bytes_, SEEK_CUR) < 0)
      throw error_at(display_, "seek failed at " + item_name(position_, count()));
    ++position_;
    return;
  }
  scratch_.resize(size_t(item_bytes_));
  read(scratch_.data());
}

void IdxReader::expect_end() {
  uint8_t extra;
  int got = gzread(gz_.get(), &extra, 1);
  if (got > 0)
    throw error_at(display_, "unexpected data after the " + std::to_string(count()) +
                                 " items the IDX header announces");
}

void IdxReader::check_plain_size() const {
  if (compressed_) return;
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return;
  int64_t expected = header_bytes_ + count() * item_bytes_;
  if (int64_t(st.st_size) < expected)
    throw error_at(display_, "truncated: " + std::to_string(st.st_size) + " bytes, the IDX header announces " +
                                 std::to_string(expected));
}

bool looks_like_idx(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return false;
  uint8_t magic[4];
  int got = gzread(gz, magic, 4);
  gzclose(gz);
  return got == 4 && magic[0] == 0 && magic[1] == 0 && magic[2] == kUnsignedByte && magic[3] >= 1 &&
         magic[3] <= kMaxDims;
}

}  // namespace sherl
