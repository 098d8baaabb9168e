#pragma once
// Streaming reader for IDX files (the MNIST / Fashion-MNIST format), plain or gzip.
// Layout: 2 zero bytes, a type byte (only 0x08 = unsigned byte is supported), the number of
// dimensions, then each dimension as a big-endian uint32, then the items, row-major.
// zlib's gz* functions read plain files transparently, so one code path serves both; only
// one item is held in memory at a time.
#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sherl {

class IdxReader {
 public:
  // Opens `path` and validates the header; `display` is what messages call the file.
  IdxReader(const std::string& path, const std::string& display);
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t count() const { return dims_[0]; }
  int64_t item_bytes() const { return item_bytes_; }  // product of dims[1:]
  int64_t position() const { return position_; }      // items read or skipped so far
  bool compressed() const { return compressed_; }
  const std::string& display() const { return display_; }

  // Reads the next item into `out` (item_bytes() bytes). Throws naming the file and the
  // item when the file ends early.
  void read(uint8_t* out);
  // Skips the next item (still decompressed for gzip files; a real seek for plain ones).
  void skip();
  // Throws when bytes follow the last item (a sign of wrong dimensions).
  void expect_end();
  // Plain files only: throws when the file is shorter than the header says (cheap check
  // that catches truncation before any item is read). No-op for gzip files.
  void check_plain_size() const;

 private:
  void read_exact(void* out, int64_t n, const char* what);
  // Owned through unique_ptr so that a constructor that throws still closes the file.
  struct GzClose {
    void operator()(gzFile f) const { gzclose(f); }
  };
  std::string path_, display_;
  std::unique_ptr<gzFile_s, GzClose> gz_;
  bool compressed_ = false;
  std::vector<int64_t> dims_;
  int64_t item_bytes_ = 0, header_bytes_ = 0, position_ = 0;
  std::vector<uint8_t> scratch_;
};

// True when the file starts like an IDX file of unsigned bytes (after gunzip if gzipped).
bool looks_like_idx(const std::string& path);

}  // namespace sherl
