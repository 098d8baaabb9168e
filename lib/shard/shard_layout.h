#pragma once
// The on-disk layout of one shard, shared by the writer, the reader and the verifier:
// dataset names, stored types, chunk shapes and the root attributes (formats/shard.md).
#include <hdf5.h>

#include <cstdint>
#include <string>

#include "lib/shard/hdf5_util.h"
#include "lib/shard/format.h"

namespace sherl::layout {

constexpr const char* kFormatName = "sherl-shard";
constexpr int64_t kFormatVersion = 1;
constexpr const char* kFeatures = "features";
constexpr const char* kOffsets = "offsets";
constexpr const char* kExampleId = "example_id";
constexpr const char* kLabel = "label";
constexpr const char* kFeatureScales = "feature_scales";  // dtype i8: [T, N] float32
constexpr const char* kBf16Encoding = "bfloat16-bits";
constexpr const char* kInt8Encoding = "int8-absmax-rows";
// The largest i8 scale whose products with -127..127 stay finite in float32.
constexpr float kMaxInt8Scale = 3.4028234663852886e38f / 127.0f;
// What an i8 scale may be: from 0 to kMaxInt8Scale (false for NaN). Writers, readers and
// verification all apply it.
inline bool is_int8_scale(float s) { return s >= 0 && s <= kMaxInt8Scale; }

// Readers refuse shards beyond these (no backbone comes near them); they also keep the
// chunk size arithmetic far from overflow.
constexpr int64_t kMaxHiddenSize = int64_t(1) << 20;
constexpr int64_t kMaxTiers = 1024;

// Raw bytes per features chunk; see "Chunking" in formats/shard.md for why.
constexpr int64_t kFeatureChunkBytes = 256 * 1024;
constexpr hsize_t kRowChunk = 16384;  // rows per chunk of offsets / example_id / label
// Chunk cache per features dataset: at least this, and at least 4 chunks.
constexpr size_t kChunkCacheBytes = 4u << 20;
constexpr size_t kChunkCacheSlots = 1031;  // prime, well above the chunks the cache holds

// Token rows per features chunk for N tiers of width d.
hsize_t feature_chunk_tokens(int64_t tiers, int64_t d, FeatureDType dtype);
// The HDF5 type a dtype is stored as (and read into memory as, without conversion):
// IEEE f32, IEEE f16 (a custom float type that h5py maps to float16), uint16 bits, or int8.
h5::Handle stored_type(FeatureDType dtype);
// Whether a dataset's type is the stored type of dtype.
bool is_stored_type(hid_t type, FeatureDType dtype);

// Dataset creation properties: chunked, extendible axis 0, shuffle + zstd + Fletcher32.
h5::Handle creation_plist(int rank, const hsize_t* chunk, const CompressionOptions& compression,
                          const std::string& where);
// Creation properties of contiguous features: one unfiltered block of fixed size, so that
// any example is one plain read (formats/shard.md, "Layouts").
h5::Handle contiguous_plist(const std::string& where);
// Whether a dataset is stored contiguously (not chunked).
bool is_contiguous(hid_t dataset, const std::string& where);
// Dataset access properties with the chunk cache described above.
h5::Handle features_access_plist(hsize_t chunk_tokens, int64_t tiers, int64_t d, FeatureDType dtype,
                                 const std::string& where);

void write_info(hid_t file, const ShardSetInfo& info, int64_t shard_index, const std::string& where);
// Reads the root attributes; checks format name and version first.
ShardSetInfo read_info(hid_t file, int64_t* shard_index, const std::string& where);

}  // namespace sherl::layout
