#include "lib/shard/zstd_filter.h"

#include <zstd.h>

#include <cstddef>
#include <cstdint>

namespace sherl {
namespace {

// HDF5 chunks are limited to 4 GiB; anything claiming more is corrupt.
constexpr unsigned long long kMaxChunkBytes = 0xffffffffULL;

// Returns the chunk size in bytes from the dataset's chunk shape and type, or 0.
unsigned long long chunk_bytes(hid_t dcpl, hid_t type) {
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
  size_t type_size = H5Tget_size(type);
  if (rank <= 0 || type_size == 0) return 0;
  unsigned long long bytes = type_size;
  for (int i = 0; i < rank; ++i) bytes *= dims[i];
  return bytes;
}

// Called when a dataset using the filter is created: records the uncompressed chunk size
// as cd_values[1] so that decoders can bound their output.
herr_t zstd_set_local(hid_t dcpl, hid_t type, hid_t /*space*/) {
  unsigned int flags = 0;
  size_t n = 8;
  unsigned int values[8] = {0};
  if (H5Pget_filter_by_id2(dcpl, kZstdFilterId, &flags, &n, values, 0, nullptr, nullptr) < 0) return -1;
  unsigned long long bytes = chunk_bytes(dcpl, type);
  if (bytes == 0 || bytes > kMaxChunkBytes) return -1;
  unsigned int level = n >= 1 ? values[0] : 3;
  unsigned int local[2] = {level, static_cast<unsigned int>(bytes)};
  return H5Pmodify_filter(dcpl, kZstdFilterId, flags, 2, local);
}

// Replaces HDF5's buffer by `out` of `size` bytes (owned by HDF5 from now on).
void hand_over(void* out, size_t size, size_t* buf_size, void** buf) {
  H5free_memory(*buf);
  *buf = out;
  *buf_size = size;
}

size_t zstd_compress(unsigned int level, size_t nbytes, size_t* buf_size, void** buf) {
  size_t bound = ZSTD_compressBound(nbytes);
  void* out = H5allocate_memory(bound, false);
  if (!out) return 0;
  size_t n = ZSTD_compress(out, bound, *buf, nbytes, static_cast<int>(level));
  if (ZSTD_isError(n)) {
    H5free_memory(out);
    return 0;
  }
  hand_over(out, bound, buf_size, buf);
  return n;
}

// Decoding must survive arbitrary bytes: every size comes from the input, so each is
// checked against the chunk size before anything is allocated.
size_t zstd_decompress(unsigned long long limit, size_t nbytes, size_t* buf_size, void** buf) {
  unsigned long long size = ZSTD_getFrameContentSize(*buf, nbytes);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return 0;
  if (size > limit) return 0;
  void* out = H5allocate_memory(size ? size : 1, false);
  if (!out) return 0;
  size_t n = ZSTD_decompress(out, size, *buf, nbytes);
  if (ZSTD_isError(n) || n != size) {
    H5free_memory(out);
    return 0;
  }
  hand_over(out, size ? size : 1, buf_size, buf);
  return n;
}

size_t zstd_filter(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[], size_t nbytes,
                   size_t* buf_size, void** buf) {
  if (flags & H5Z_FLAG_REVERSE) {
    unsigned long long limit = cd_nelmts >= 2 && cd_values[1] > 0 ? cd_values[1] : kMaxChunkBytes;
    return zstd_decompress(limit, nbytes, buf_size, buf);
  }
  unsigned int level = cd_nelmts >= 1 ? cd_values[0] : 3;
  return zstd_compress(level, nbytes, buf_size, buf);
}

const H5Z_class2_t kZstdClass = {
    H5Z_CLASS_T_VERS,
    kZstdFilterId,
    1,  // encoder present
    1,  // decoder present
    "Zstandard (sherl)",
    nullptr,  // can_apply
    zstd_set_local,
    zstd_filter,
};

}  // namespace

const H5Z_class2_t* zstd_filter_class() { return &kZstdClass; }

}  // namespace sherl
