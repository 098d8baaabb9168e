// The zstd filter as a dynamically loaded HDF5 plugin: HDF5 (h5dump, h5ls, h5py) finds
// lib*.so in HDF5_PLUGIN_PATH and asks it for these two C symbols.
#include <H5PLextern.h>

#include "lib/shard/zstd_filter.h"

extern "C" {

__attribute__((visibility("default"))) H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

__attribute__((visibility("default"))) const void* H5PLget_plugin_info(void) {
  return sherl::zstd_filter_class();
}

}
