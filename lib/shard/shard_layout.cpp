#include "lib/shard/shard_layout.h"

#include <algorithm>

#include "lib/core/error.h"
#include "lib/shard/zstd_filter.h"

namespace sherl::layout {


hsize_t feature_chunk_tokens(int64_t tiers, int64_t d, FeatureDType dtype) {
  int64_t row = tiers * d * static_cast<int64_t>(value_bytes(dtype));
  return static_cast<hsize_t>(std::max<int64_t>(1, kFeatureChunkBytes / std::max<int64_t>(row, 1)));
}

h5::Handle stored_type(FeatureDType dtype) {
  switch (dtype) {
    case FeatureDType::F32:
      return h5::type(H5Tcopy(H5T_IEEE_F32LE), "HDF5", "cannot copy float32 type");
    case FeatureDType::BF16:
      return h5::type(H5Tcopy(H5T_STD_U16LE), "HDF5", "cannot copy uint16 type");
    case FeatureDType::I8:
      return h5::type(H5Tcopy(H5T_STD_I8LE), "HDF5", "cannot copy int8 type");
    case FeatureDType::F16: {
      // IEEE binary16 built the way h5py builds it, so h5py reads numpy float16.
      h5::Handle t = h5::type(H5Tcopy(H5T_IEEE_F32LE), "HDF5", "cannot copy float type");
      H5Tset_fields(t.get(), 15, 10, 5, 0, 10);
      H5Tset_size(t.get(), 2);
      H5Tset_ebias(t.get(), 15);
      return t;
    }
  }
  throw Error("unknown feature dtype");
}

bool is_stored_type(hid_t type, FeatureDType dtype) {
  h5::Handle want = stored_type(dtype);
  return H5Tequal(type, want.get()) > 0;
}

h5::Handle creation_plist(int rank, const hsize_t* chunk, const CompressionOptions& compression,
                          const std::string& where) {
  h5::Handle dcpl = h5::plist(H5Pcreate(H5P_DATASET_CREATE), where, "cannot create dataset properties");
  h5::check(H5Pset_chunk(dcpl.get(), rank, chunk), where, "cannot set chunking");
  if (compression.zstd_level > 0) {
    if (compression.shuffle) h5::check(H5Pset_shuffle(dcpl.get()), where, "cannot set shuffle filter");
    unsigned int level = static_cast<unsigned int>(compression.zstd_level);
    h5::check(H5Pset_filter(dcpl.get(), kZstdFilterId, H5Z_FLAG_MANDATORY, 1, &level), where,
              "cannot set zstd filter");
  }
  // Last, so that it checksums the stored bytes: corruption is caught before decoding.
  h5::check(H5Pset_fletcher32(dcpl.get()), where, "cannot set Fletcher32 filter");
  return dcpl;
}

h5::Handle contiguous_plist(const std::string& where) {
  h5::Handle dcpl = h5::plist(H5Pcreate(H5P_DATASET_CREATE), where, "cannot create dataset properties");
  h5::check(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), where, "cannot set contiguous layout");
  return dcpl;
}

bool is_contiguous(hid_t dataset, const std::string& where) {
  h5::Handle dcpl = h5::plist(H5Dget_create_plist(dataset), where, "cannot get creation properties");
  return H5Pget_layout(dcpl.get()) == H5D_CONTIGUOUS;
}

h5::Handle features_access_plist(hsize_t chunk_tokens, int64_t tiers, int64_t d, FeatureDType dtype,
                                 const std::string& where) {
  h5::Handle dapl = h5::plist(H5Pcreate(H5P_DATASET_ACCESS), where, "cannot create dataset access properties");
  size_t chunk = chunk_tokens * static_cast<size_t>(tiers * d) * value_bytes(dtype);
  // w0 = 1: chunks read or written completely are evicted first; partial ones stay.
  h5::check(H5Pset_chunk_cache(dapl.get(), kChunkCacheSlots, std::max(kChunkCacheBytes, 4 * chunk), 1.0), where,
            "cannot set chunk cache");
  return dapl;
}

void write_info(hid_t file, const ShardSetInfo& info, int64_t shard_index, const std::string& where) {
  h5::write_attribute(file, "format", std::string(kFormatName), where);
  h5::write_attribute(file, "format_version", kFormatVersion, where);
  h5::write_attribute(file, "shard_index", shard_index, where);
  h5::write_attribute(file, "backbone_model_type", info.backbone.model_type, where);
  h5::write_attribute(file, "backbone_hidden_size", info.backbone.hidden_size, where);
  h5::write_attribute(file, "backbone_num_layers", info.backbone.num_layers, where);
  h5::write_attribute(file, "backbone_config_sha256", info.backbone.config_sha256, where);
  h5::write_attribute(file, "backbone_weights_sha256", info.backbone.weights_sha256, where);
  h5::write_attribute(file, "tiers", info.tiers, where);
  h5::write_attribute(file, "late_layers", info.late_layers, where);
  h5::write_attribute(file, "dtype", to_string(info.dtype), where);
  h5::write_attribute(file, "label_kind", to_string(info.label_kind), where);
  h5::write_attribute(file, "num_labels", info.num_labels, where);
  if (!info.label_names.empty()) h5::write_attribute(file, "label_names", info.label_names, where);
  h5::write_attribute(file, "source_path", info.source_path, where);
  h5::write_attribute(file, "source_sha256", info.source_sha256, where);
  h5::write_attribute(file, "tool_version", info.tool_version, where);
  h5::write_attribute(file, "command_line", info.command_line, where);
  // Last: added after the others existed, it leaves their place in the file unchanged.
  h5::write_attribute(file, "backbone_preprocessing_sha256", info.backbone.preprocessing_sha256, where);
}

ShardSetInfo read_info(hid_t file, int64_t* shard_index, const std::string& where) {
  if (!h5::has_attribute(file, "format"))
    throw error_at(where, "not a sherl shard (root attribute 'format' is missing)");
  std::string format = h5::read_string_attribute(file, "format", where);
  if (format != kFormatName) throw error_at(where, "not a sherl shard (attribute 'format' is '" + format + "')");
  int64_t version = h5::read_int_attribute(file, "format_version", where);
  if (version != kFormatVersion)
    throw error_at(where, "unsupported format version " + std::to_string(version) + " (this sherl reads version " +
                              std::to_string(kFormatVersion) + ")");
  ShardSetInfo info;
  *shard_index = h5::read_int_attribute(file, "shard_index", where);
  info.backbone.model_type = h5::read_string_attribute(file, "backbone_model_type", where);
  info.backbone.hidden_size = h5::read_int_attribute(file, "backbone_hidden_size", where);
  info.backbone.num_layers = h5::read_int_attribute(file, "backbone_num_layers", where);
  info.backbone.config_sha256 = h5::read_string_attribute(file, "backbone_config_sha256", where);
  info.backbone.weights_sha256 = h5::read_string_attribute(file, "backbone_weights_sha256", where);
  // Absent in shards written before it existed.
  if (h5::has_attribute(file, "backbone_preprocessing_sha256"))
    info.backbone.preprocessing_sha256 = h5::read_string_attribute(file, "backbone_preprocessing_sha256", where);
  info.tiers = h5::read_int_array_attribute(file, "tiers", where);
  info.late_layers = h5::read_int_attribute(file, "late_layers", where);
  try {
    info.dtype = parse_feature_dtype(h5::read_string_attribute(file, "dtype", where));
    info.label_kind = parse_label_kind(h5::read_string_attribute(file, "label_kind", where));
  } catch (const Error& e) {
    throw error_at(where, e);
  }
  info.num_labels = h5::read_int_attribute(file, "num_labels", where);
  if (h5::has_attribute(file, "label_names"))
    info.label_names = h5::read_string_array_attribute(file, "label_names", where);
  info.source_path = h5::read_string_attribute(file, "source_path", where);
  info.source_sha256 = h5::read_string_attribute(file, "source_sha256", where);
  info.tool_version = h5::read_string_attribute(file, "tool_version", where);
  info.command_line = h5::read_string_attribute(file, "command_line", where);
  return info;
}

}  // namespace sherl::layout
