// ShardWriter: appends examples to the features dataset of a temporary HDF5 file (extendible
// and chunked, or contiguous of a declared size), so memory stays bounded; commit() writes
// the small per-example datasets, closes, fsyncs and renames the file into place.
#include <algorithm>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/hash.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"
#include "lib/shard/shard_layout.h"
#include "lib/shard/stored_values.h"

namespace sherl {
namespace {

void check_info(const ShardSetInfo& info, const std::string& where) {
  if (info.tiers.empty()) throw error_at(where, "no tiers to store");
  if (info.backbone.hidden_size <= 0) throw error_at(where, "backbone hidden_size must be positive");
  if (info.num_labels <= 0) throw error_at(where, "num_labels must be positive");
  if (info.label_kind == LabelKind::Class && !info.label_names.empty() &&
      static_cast<int64_t>(info.label_names.size()) != info.num_labels)
    throw error_at(where, "label_names has " + std::to_string(info.label_names.size()) + " names for " +
                              std::to_string(info.num_labels) + " classes");
}

// Writes a whole 1-D or 2-D array as a chunked, filtered, extendible dataset.
void write_table(hid_t file, const char* name, hid_t file_type, hid_t mem_type, const void* data, hsize_t rows,
                 hsize_t cols, const CompressionOptions& compression, const std::string& where) {
  const std::string what = std::string("dataset '") + name + "': ";
  int rank = cols == 0 ? 1 : 2;
  hsize_t dims[2] = {rows, cols}, maxdims[2] = {H5S_UNLIMITED, cols};
  hsize_t row_bytes = H5Tget_size(file_type) * std::max<hsize_t>(cols, 1);
  hsize_t chunk[2] = {std::max<hsize_t>(1, layout::kRowChunk * 8 / row_bytes), cols};
  h5::Handle space = h5::space(H5Screate_simple(rank, dims, maxdims), where, what + "cannot create dataspace");
  h5::Handle dcpl = layout::creation_plist(rank, chunk, compression, where);
  h5::Handle ds = h5::dataset(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                              where, what + "cannot create");
  if (rows > 0) h5::check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where, what + "write failed");
}

// Creates a token-row dataset ([rows, dims...] of `type`): extendible and chunked by
// `chunk_tokens` rows with the filters, or contiguous of exactly `contiguous_tokens` rows.
h5::Handle create_row_dataset(hid_t file, const char* name, hid_t type, std::vector<hsize_t> dims,
                              int64_t contiguous_tokens, hsize_t chunk_tokens, hid_t dapl,
                              const CompressionOptions& compression, const std::string& where) {
  const bool contiguous = contiguous_tokens > 0;
  dims.insert(dims.begin(), static_cast<hsize_t>(contiguous_tokens));
  std::vector<hsize_t> maxdims = dims, chunk = dims;
  if (!contiguous) maxdims[0] = H5S_UNLIMITED;
  chunk[0] = chunk_tokens;
  const int rank = static_cast<int>(dims.size());
  h5::Handle space = h5::space(H5Screate_simple(rank, dims.data(), maxdims.data()), where, "cannot create dataspace");
  h5::Handle dcpl = contiguous ? layout::contiguous_plist(where) : layout::creation_plist(rank, chunk.data(), compression, where);
  return h5::dataset(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, dcpl.get(), dapl), where, "cannot create");
}

// Writes rows [begin, begin + count[0]) of a token-row dataset, extending a chunked one.
void write_rows(hid_t ds, hid_t type, hsize_t begin, std::vector<hsize_t> count, bool extend, const void* data,
                const std::string& where) {
  const int rank = static_cast<int>(count.size());
  std::vector<hsize_t> dims = count, start(count.size(), 0);
  dims[0] = begin + count[0];
  start[0] = begin;
  if (extend) h5::check(H5Dset_extent(ds, dims.data()), where, "cannot extend");
  h5::Handle file_space = h5::space(H5Dget_space(ds), where, "cannot get dataspace");
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), where,
            "cannot select rows");
  h5::Handle mem_space = h5::space(H5Screate_simple(rank, count.data(), nullptr), where, "cannot create dataspace");
  h5::check(H5Dwrite(ds, type, mem_space.get(), file_space.get(), H5P_DEFAULT, data), where, "write failed");
}

}  // namespace

struct ShardWriter::Impl {
  ShardSetInfo info;
  CompressionOptions compression;
  std::string path;
  AtomicFile temp;  // declared before the HDF5 handles: they close before it removes the file
  h5::Handle file;
  h5::Handle features;
  h5::Handle scales;  // dtype I8: feature_scales
  h5::Handle feature_type;
  int64_t tiers = 0, d = 0;
  int64_t contiguous_tokens = 0;  // 0: chunked
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> ids;
  std::vector<int64_t> class_labels;
  std::vector<float> target_labels;  // row-major [n, num_labels]
  bool committed = false;

  Impl(const std::string& p, const ShardSetInfo& i, const CompressionOptions& c, int64_t contiguous)
      : info(i), compression(c), path(p), temp(p), contiguous_tokens(contiguous) {}

  void create(int64_t shard_index);
  void append_features(const ShardExample& e);
  void append_label(const torch::Tensor& label);
};

void ShardWriter::Impl::create(int64_t shard_index) {
  h5::init();
  check_info(info, path);
  if (std::string problem = compression_problem(compression); !problem.empty()) throw error_at(path, problem);
  tiers = static_cast<int64_t>(info.tiers.size());
  d = info.backbone.hidden_size;
  file = h5::file(H5Fcreate(temp.temp_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path,
                  "cannot create HDF5 file " + temp.temp_path());
  layout::write_info(file.get(), info, shard_index, path);

  const std::string where = path + ": dataset 'features'";
  if (contiguous_tokens < 0) throw error_at(where, "contiguous size must not be negative");
  const hsize_t chunk_tokens = layout::feature_chunk_tokens(tiers, d, info.dtype);
  const auto n_tiers = static_cast<hsize_t>(tiers);
  h5::Handle dapl = layout::features_access_plist(chunk_tokens, tiers, d, info.dtype, where);
  feature_type = layout::stored_type(info.dtype);
  features = create_row_dataset(file.get(), layout::kFeatures, feature_type.get(), {n_tiers, static_cast<hsize_t>(d)},
                                contiguous_tokens, chunk_tokens, dapl.get(), compression, where);
  h5::write_attribute(features.get(), "dtype", to_string(info.dtype), where);
  if (info.dtype == FeatureDType::BF16)
    h5::write_attribute(features.get(), "encoding", std::string(layout::kBf16Encoding), where);
  if (info.dtype == FeatureDType::I8) {
    h5::write_attribute(features.get(), "encoding", std::string(layout::kInt8Encoding), where);
    // Chunked by the same token rows as the features, so that an example's reads touch the
    // same rows of both.
    scales = create_row_dataset(file.get(), layout::kFeatureScales, H5T_IEEE_F32LE, {n_tiers}, contiguous_tokens,
                                chunk_tokens, H5P_DEFAULT, compression, path + ": dataset 'feature_scales'");
  }
}

void ShardWriter::Impl::append_features(const ShardExample& e) {
  const torch::Tensor& x = e.features;
  const std::string where = path + ": example " + std::to_string(ids.size());
  if (!x.defined() || x.dim() != 3 || x.size(0) < 1 || x.size(1) != tiers || x.size(2) != d)
    throw error_at(where, "features must be [tokens >= 1, " + std::to_string(tiers) + ", " + std::to_string(d) +
                              "], got " + (x.defined() ? c10::str(x.sizes()) : std::string("none")));
  const bool quantised = x.scalar_type() == torch::kInt8;  // already as an i8 shard stores it
  if (quantised ? info.dtype != FeatureDType::I8 : !x.is_floating_point())
    throw error_at(where, "features must be floating point (or int8 with scales, for dtype i8)");
  torch::Tensor stored, row_scales;
  if (info.dtype != FeatureDType::I8) {
    stored = x.to(torch::kCPU, torch_dtype(info.dtype)).contiguous();
  } else if (quantised) {
    if (!e.scales.defined() || e.scales.sizes() != at::IntArrayRef({x.size(0), tiers}))
      throw error_at(where, "int8 features need scales of shape [" + std::to_string(x.size(0)) + ", " +
                                std::to_string(tiers) + "]");
    stored = x.to(torch::kCPU).contiguous();
    row_scales = e.scales.to(torch::kCPU, torch::kFloat32).contiguous();
    if (!valid_int8_scales(row_scales).all().item<bool>())
      throw error_at(where, "int8 features have a negative, NaN or overflowing scale");
  } else {
    Int8Rows q = quantise_rows(x);
    stored = q.values.to(torch::kCPU).contiguous();
    row_scales = q.scales.to(torch::kCPU).contiguous();
  }
  const auto begin = static_cast<hsize_t>(offsets.back()), tokens = static_cast<hsize_t>(x.size(0));
  if (contiguous_tokens > 0 && static_cast<int64_t>(begin + tokens) > contiguous_tokens)
    throw error_at(where, "does not fit: the contiguous shard was created for " + std::to_string(contiguous_tokens) +
                              " token rows");
  const bool extend = contiguous_tokens == 0;
  write_rows(features.get(), feature_type.get(), begin, {tokens, static_cast<hsize_t>(tiers), static_cast<hsize_t>(d)},
             extend, stored.data_ptr(), path + ": dataset 'features'");
  if (row_scales.defined())
    write_rows(scales.get(), H5T_NATIVE_FLOAT, begin, {tokens, static_cast<hsize_t>(tiers)}, extend,
               row_scales.data_ptr(), path + ": dataset 'feature_scales'");
  offsets.push_back(offsets.back() + x.size(0));
}

void ShardWriter::Impl::append_label(const torch::Tensor& label) {
  const std::string where = path + ": example " + std::to_string(ids.size());
  if (!label.defined()) throw error_at(where, "label is missing");
  if (info.label_kind == LabelKind::Class) {
    if (label.numel() != 1 || label.is_floating_point()) throw error_at(where, "class label must be one integer");
    int64_t c = label.item<int64_t>();
    if (c < 0 || c >= info.num_labels)
      throw error_at(where, "class label " + std::to_string(c) + " is out of range 0.." +
                                std::to_string(info.num_labels - 1));
    class_labels.push_back(c);
    return;
  }
  if (label.numel() != info.num_labels)
    throw error_at(where, "label must have " + std::to_string(info.num_labels) + " values, got " +
                              std::to_string(label.numel()));
  torch::Tensor f = label.to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
  target_labels.insert(target_labels.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

ShardWriter::ShardWriter(const std::string& path, const ShardSetInfo& info, int64_t shard_index,
                         const CompressionOptions& compression, int64_t contiguous_tokens)
    : impl_(std::make_unique<Impl>(path, info, compression, contiguous_tokens)) {
  impl_->create(shard_index);
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::append(const ShardExample& example) {
  h5::init();  // appends run on extraction's shard-writing thread
  if (impl_->committed) throw error_at(impl_->path, "append after commit");
  if (!torch::isfinite(example.features).all().item<bool>() ||
      (example.scales.defined() && !torch::isfinite(example.scales).all().item<bool>()))
    throw error_at(impl_->path, "example " + std::to_string(example.id) +
                                    ": features hold NaN or infinite values (from the backbone's weights or "
                                    "input?); not written");
  // Label first: it is the check most likely to fail, and it writes nothing to the file.
  impl_->append_label(example.label);
  try {
    impl_->append_features(example);
  } catch (...) {
    if (impl_->info.label_kind == LabelKind::Class) impl_->class_labels.pop_back();
    else impl_->target_labels.resize(impl_->target_labels.size() - impl_->info.num_labels);
    throw;
  }
  impl_->ids.push_back(example.id);
}

int64_t ShardWriter::size() const { return static_cast<int64_t>(impl_->ids.size()); }

std::string ShardWriter::commit() {
  h5::init();
  Impl& m = *impl_;
  if (m.committed) throw error_at(m.path, "commit called twice");
  if (m.contiguous_tokens > 0 && m.offsets.back() != m.contiguous_tokens)
    throw error_at(m.path, "the examples hold " + std::to_string(m.offsets.back()) + " token rows, not the " +
                               std::to_string(m.contiguous_tokens) + " the contiguous shard was created for");
  hsize_t n = m.ids.size();
  write_table(m.file.get(), layout::kOffsets, H5T_STD_I64LE, H5T_NATIVE_INT64, m.offsets.data(), n + 1, 0,
              m.compression, m.path);
  write_table(m.file.get(), layout::kExampleId, H5T_STD_I64LE, H5T_NATIVE_INT64, m.ids.data(), n, 0, m.compression,
              m.path);
  if (m.info.label_kind == LabelKind::Class)
    write_table(m.file.get(), layout::kLabel, H5T_STD_I64LE, H5T_NATIVE_INT64, m.class_labels.data(), n, 0,
                m.compression, m.path);
  else
    write_table(m.file.get(), layout::kLabel, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m.target_labels.data(), n,
                static_cast<hsize_t>(m.info.num_labels), m.compression, m.path);
  // Closing the dataset flushes its cached chunks through the filters: it can fail.
  if (!m.features.close()) throw error_at(m.path, h5::with_detail("dataset 'features': flush failed"));
  if (m.scales.valid() && !m.scales.close())
    throw error_at(m.path, h5::with_detail("dataset 'feature_scales': flush failed"));
  m.feature_type.reset();
  if (!m.file.close()) throw error_at(m.path, h5::with_detail("cannot close HDF5 file (flush failed)"));
  m.temp.commit();
  m.committed = true;
  return sha256_file(m.path);
}

}  // namespace sherl
