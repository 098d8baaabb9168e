// Shard files built from the input's bytes with the HDF5 API, so that the fuzzer explores
// what sherl's reader checks (attributes, shapes, types, offsets, labels, values) rather
// than HDF5's own parser (shard_file does that): every attribute and dataset of a sound
// shard, each perturbed, replaced by a wrong kind, or left out as the bytes say.
#include <hdf5.h>

#include <cstring>
#include <limits>
#include <vector>

#include "lib/core/error.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"
#include "lib/shard/shard_layout.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/shard_check.h"

namespace sherl::fuzz {
namespace {

// Reads values off the input; zeros once it is exhausted.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  // True about once in `one_in`; never once the input is exhausted, so that a short input
  // builds a sound shard.
  bool flag(int one_in) {
    uint8_t b = u8();
    return b != 0 && b % one_in == 0;
  }
  // Mostly `usual`, sometimes an extreme value.
  int64_t integer(int64_t usual) {
    switch (u8() % 16) {
      case 1: return -1 - int64_t(u8());
      case 2: return std::numeric_limits<int64_t>::max() - u8();
      case 3: return int64_t(1) << (u8() % 63);
      case 4: return 0;
      default: return usual;
    }
  }
  int64_t small(int64_t n) { return n > 0 ? int64_t(u8()) % n : 0; }
  std::string text(const std::string& usual) {
    if (!flag(4)) return usual;
    std::string s;
    for (size_t n = u8() % 8; n > 0; --n) s.push_back(char(u8()));
    return s;
  }
  float value() {
    uint8_t k = u8();
    if (k == 255) return std::numeric_limits<float>::quiet_NaN();
    if (k == 254) return std::numeric_limits<float>::infinity();
    return float(int(k) - 128) / 16.0f;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

const char* const kInfoAttributes[] = {"format", "format_version", "shard_index", "backbone_model_type",
                                       "backbone_hidden_size", "backbone_num_layers", "tiers", "late_layers",
                                       "dtype", "label_kind", "num_labels", "label_names", "source_path"};

// A dataset of `type` with `dims`, chunked and filtered as the writer does or contiguous,
// holding `data` (values of `mem_type`).
void add_dataset(hid_t file, const char* name, hid_t type, hid_t mem_type, const std::vector<hsize_t>& dims,
                 const void* data, bool chunked, const std::string& where) {
  std::vector<hsize_t> max_dims = dims;
  h5::Handle dcpl = h5::plist(H5Pcreate(H5P_DATASET_CREATE), where, "plist");
  if (chunked) {
    max_dims[0] = H5S_UNLIMITED;  // extendible along axis 0, as the writer makes them
    std::vector<hsize_t> chunk(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) chunk[i] = std::max<hsize_t>(1, std::min<hsize_t>(dims[i], 8));
    dcpl = layout::creation_plist(int(dims.size()), chunk.data(), CompressionOptions{}, where);
  }
  h5::Handle space =
      h5::space(H5Screate_simple(int(dims.size()), dims.data(), max_dims.data()), where, "dataspace");
  h5::Handle ds =
      h5::dataset(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), where, name);
  if (H5Sget_simple_extent_npoints(space.get()) > 0)
    h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where, name);
}

void build(Bytes& in, const std::string& path) {
  h5::init();
  ShardSetInfo info;
  const int64_t n = in.small(6);         // examples
  const int64_t tiers = 1 + in.small(3);  // stored tiers
  const int64_t d = 1 + in.small(4);      // hidden size
  info.backbone = {in.text("vit"), in.integer(d), in.integer(4), std::string(64, '1'), std::string(64, '2')};
  for (int64_t t = 0; t < tiers; ++t) info.tiers.push_back(in.flag(8) ? in.integer(t) : t);
  if (in.flag(8)) info.tiers.clear();
  info.late_layers = in.integer(1);
  info.dtype = FeatureDType(in.small(4));
  info.label_kind = LabelKind(in.small(3));
  info.num_labels = in.integer(info.label_kind == LabelKind::Regression ? 1 : 3);
  const int64_t names = std::min<int64_t>(info.num_labels, 4) + in.small(2);
  if (info.label_kind == LabelKind::Class)
    for (int64_t c = 0; c < names; ++c) info.label_names.push_back(in.text(std::to_string(c)));
  info.source_path = in.text("input");

  h5::Handle file = h5::file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "create");
  layout::write_info(file.get(), info, in.integer(0), path);
  // A perturbed attribute: another value, a string for a number or the reverse, or none.
  if (in.flag(2)) {
    const char* name = kInfoAttributes[in.small(std::size(kInfoAttributes))];
    switch (in.small(4)) {
      case 0: H5Adelete(file.get(), name); break;
      case 1: h5::write_attribute(file.get(), name, in.text("sherl-shard"), path); break;
      case 2: h5::write_attribute(file.get(), name, in.integer(1), path); break;
      default: h5::write_attribute(file.get(), name, std::vector<int64_t>{in.integer(1), in.integer(2)}, path);
    }
  }

  // Token counts, then the datasets, each perhaps of another shape or type, or missing.
  std::vector<int64_t> offsets{0};
  for (int64_t i = 0; i < n; ++i) offsets.push_back(offsets.back() + 1 + in.small(4));
  const int64_t tokens = offsets.back();
  if (in.flag(4)) offsets[size_t(in.small(int64_t(offsets.size())))] = in.integer(tokens);
  const int64_t rows = in.flag(8) ? in.small(40) : tokens;  // at most 24 or 39: small files
  const bool chunked = !in.flag(4);

  if (!in.flag(16)) {
    std::vector<hsize_t> dims{hsize_t(rows), hsize_t(tiers), hsize_t(d)};
    if (in.flag(8)) dims.pop_back();
    if (in.flag(8)) dims[size_t(in.small(int64_t(dims.size())))] += 1;
    size_t count = 1;
    for (hsize_t x : dims) count *= x;
    std::vector<float> values(count);
    for (float& v : values) v = in.value();
    h5::Handle stored = layout::stored_type(info.dtype);
    hid_t type = in.flag(8) ? H5T_NATIVE_DOUBLE : stored.get();
    // bf16 is stored as the upper halves of float32 bit patterns.
    std::vector<uint16_t> bits(count);
    for (size_t i = 0; i < count; ++i) {
      uint32_t b;
      std::memcpy(&b, &values[i], 4);
      bits[i] = uint16_t(b >> 16);
    }
    bool raw_bits = info.dtype == FeatureDType::BF16 && type == stored.get();
    add_dataset(file.get(), layout::kFeatures, type, raw_bits ? H5T_NATIVE_UINT16 : H5T_NATIVE_FLOAT, dims,
                raw_bits ? static_cast<const void*>(bits.data()) : values.data(), chunked, path);
    // i8's scales: present or not, of the features' rows or not, any values.
    if (info.dtype == FeatureDType::I8 && !in.flag(8)) {
      std::vector<hsize_t> scale_dims{dims[0], hsize_t(tiers)};
      if (in.flag(8)) scale_dims[size_t(in.small(2))] += 1;
      std::vector<float> scales(scale_dims[0] * scale_dims[1]);
      for (float& s : scales) s = in.value();
      add_dataset(file.get(), layout::kFeatureScales, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, scale_dims, scales.data(),
                  chunked, path);
    }
  }
  if (!in.flag(16))
    add_dataset(file.get(), layout::kOffsets, H5T_STD_I64LE, H5T_NATIVE_INT64, {hsize_t(offsets.size())},
                offsets.data(), chunked, path);
  if (!in.flag(16)) {
    std::vector<int64_t> ids(size_t(n + (in.flag(8) ? 1 : 0)));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = in.flag(8) ? in.integer(0) : int64_t(i);
    add_dataset(file.get(), layout::kExampleId, H5T_STD_I64LE, H5T_NATIVE_INT64, {hsize_t(ids.size())}, ids.data(),
                chunked, path);
  }
  if (!in.flag(16)) {
    if (info.label_kind == LabelKind::Class && !in.flag(8)) {
      std::vector<int64_t> labels(static_cast<size_t>(n));
      for (int64_t& c : labels) c = in.flag(8) ? in.integer(0) : in.small(3);
      add_dataset(file.get(), layout::kLabel, H5T_STD_I64LE, H5T_NATIVE_INT64, {hsize_t(n)}, labels.data(), chunked,
                  path);
    } else {
      hsize_t cols = hsize_t(std::max<int64_t>(1, std::min<int64_t>(info.num_labels, 4)));
      std::vector<float> labels(size_t(n) * cols);
      for (float& v : labels) v = in.value();
      add_dataset(file.get(), layout::kLabel, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {hsize_t(n), cols}, labels.data(),
                  chunked, path);
    }
  }
  if (!file.close()) throw error_at(path, "cannot close");
}

}  // namespace

int shard(const uint8_t* data, size_t size) {
  const std::string path = scratch_subdir("shard") + "/shard-00000.h5";
  Bytes in(data, size);
  try {
    build(in, path);
  } catch (const Error&) {
    return 0;  // HDF5 would not write this one (e.g. a zero chunk dimension): nothing to read
  }
  read_shard_file(path);
  return 0;
}

}  // namespace sherl::fuzz
