#pragma once
// The Zstandard HDF5 filter (registered id 32015), shared by the library (registered
// in-process) and by the loadable plugin h5zstd (for h5dump, h5ls, h5py). Deliberately free
// of LibTorch and of the rest of sherl so that the plugin stays a small C-ABI library.
//
// Stored format: each chunk is one zstd frame with its content size in the frame header
// (what ZSTD_compress writes, the same as other id-32015 plugins). cd_values[0] is the
// compression level; cd_values[1], added by set_local, is the uncompressed chunk size in
// bytes, used as an upper bound when decoding untrusted input.
#include <hdf5.h>

namespace sherl {

constexpr H5Z_filter_t kZstdFilterId = 32015;

// The filter's class description, suitable for H5Zregister and H5PLget_plugin_info.
const H5Z_class2_t* zstd_filter_class();

}  // namespace sherl
