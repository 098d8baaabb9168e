// ShardReader: opens a shard read-only, validates its structure once, then serves whole
// examples by reading only the token rows (hence chunks) they occupy.
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/float16.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"
#include "lib/shard/shard_layout.h"

namespace sherl {
namespace {

h5::Handle open_read_only(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error_at(path, "no such file");
  if (!std::filesystem::is_regular_file(path, ec)) throw error_at(path, "not a regular file");
  h5::Handle fapl = h5::plist(H5Pcreate(H5P_FILE_ACCESS), path, "cannot create file access properties");
  // Read-only opens take a shared lock, so readers never block each other; where the file
  // system has no locking, go on without it (committed shards are never written again).
  H5Pset_file_locking(fapl.get(), true, true);
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) {
    std::string detail = h5::last_error_detail();
    throw error_at(path, "not an HDF5 file" + (detail.empty() ? std::string() : " (" + detail + ")"));
  }
  return h5::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), path, "cannot open HDF5 file");
}

h5::Handle open_dataset(hid_t file, const char* name, hid_t dapl, const std::string& path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) throw error_at(path, std::string("dataset '") + name + "' is missing");
  return h5::dataset(H5Dopen2(file, name, dapl), path + ": dataset '" + name + "'", "cannot open");
}

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Reads a whole 1-D or 2-D dataset into a tensor of `dtype` through `mem_type`.
torch::Tensor read_all(hid_t ds, hid_t mem_type, torch::ScalarType dtype, const std::vector<hsize_t>& dims,
                       const std::string& where) {
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  torch::Tensor out = torch::empty(sizes, dtype);
  if (out.numel() > 0)
    h5::check(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()), where, "read failed");
  return out;
}

}  // namespace

struct ShardReader::Impl {
  std::string path;
  ShardSetInfo info;
  int64_t shard_index = 0;
  h5::Handle file, features, feature_type;
  int64_t n = 0, tiers = 0, d = 0;
  bool contiguous = false;
  std::vector<int64_t> offsets, ids;
  torch::Tensor labels;  // int64 [n] or float32 [n, num_labels]

  void open();
  void check_features();
  void load_offsets();
  void load_ids_and_labels();
  ShardExample example(int64_t i, const torch::Tensor& rows, int64_t first_row) const;
};

void ShardReader::Impl::open() {
  h5::init();
  file = open_read_only(path);
  info = layout::read_info(file.get(), &shard_index, path);
  tiers = static_cast<int64_t>(info.tiers.size());
  d = info.backbone.hidden_size;
  if (tiers == 0) throw error_at(path, "attribute 'tiers' is empty");
  if (tiers > layout::kMaxTiers)
    throw error_at(path, "attribute 'tiers' lists " + std::to_string(tiers) + " tiers (at most " +
                             std::to_string(layout::kMaxTiers) + ")");
  if (d < 1 || d > layout::kMaxHiddenSize)
    throw error_at(path, "attribute 'backbone_hidden_size' is " + std::to_string(d) + ", not in 1.." +
                             std::to_string(layout::kMaxHiddenSize));
  if (info.num_labels <= 0) throw error_at(path, "attribute 'num_labels' must be positive");
  check_features();
  load_offsets();
  load_ids_and_labels();
}

void ShardReader::Impl::check_features() {
  const std::string where = path + ": dataset 'features'";
  hsize_t chunk_tokens = layout::feature_chunk_tokens(tiers, d, info.dtype);
  h5::Handle dapl = layout::features_access_plist(chunk_tokens, tiers, d, info.dtype, where);
  features = open_dataset(file.get(), layout::kFeatures, dapl.get(), path);
  auto dims = h5::dims_of(features.get(), where);
  if (dims.size() != 3 || static_cast<int64_t>(dims[1]) != tiers || static_cast<int64_t>(dims[2]) != d)
    throw error_at(where, "shape " + shape_string(dims) + " does not match [tokens, " + std::to_string(tiers) +
                              " tiers, hidden_size " + std::to_string(d) + "]");
  h5::Handle type = h5::type(H5Dget_type(features.get()), where, "cannot get type");
  if (!layout::is_stored_type(type.get(), info.dtype))
    throw error_at(where, "stored type does not match attribute dtype '" + to_string(info.dtype) + "'");
  feature_type = layout::stored_type(info.dtype);
  contiguous = layout::is_contiguous(features.get(), where);
}

void ShardReader::Impl::load_offsets() {
  const std::string where = path + ": dataset 'offsets'";
  h5::Handle ds = open_dataset(file.get(), layout::kOffsets, H5P_DEFAULT, path);
  auto dims = h5::dims_of(ds.get(), where);
  if (dims.size() != 1 || dims[0] < 1) throw error_at(where, "shape " + shape_string(dims) + " is not [examples + 1]");
  torch::Tensor t = read_all(ds.get(), H5T_NATIVE_INT64, torch::kInt64, dims, where);
  offsets.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  n = static_cast<int64_t>(offsets.size()) - 1;
  int64_t total = static_cast<int64_t>(h5::dims_of(features.get(), path)[0]);
  if (offsets[0] != 0) throw error_at(where, "first offset is " + std::to_string(offsets[0]) + ", not 0");
  for (int64_t i = 0; i < n; ++i)
    if (offsets[i + 1] <= offsets[i])
      throw error_at(where, "not increasing at index " + std::to_string(i + 1) + " (" + std::to_string(offsets[i]) +
                                " then " + std::to_string(offsets[i + 1]) + ")");
  if (offsets[n] != total)
    throw error_at(where, "last offset " + std::to_string(offsets[n]) + " does not match the " + std::to_string(total) +
                              " token rows of 'features'");
}

void ShardReader::Impl::load_ids_and_labels() {
  std::string where = path + ": dataset 'example_id'";
  h5::Handle ds = open_dataset(file.get(), layout::kExampleId, H5P_DEFAULT, path);
  auto dims = h5::dims_of(ds.get(), where);
  if (dims.size() != 1 || static_cast<int64_t>(dims[0]) != n)
    throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + "] (from 'offsets')");
  torch::Tensor t = read_all(ds.get(), H5T_NATIVE_INT64, torch::kInt64, dims, where);
  ids.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());

  where = path + ": dataset 'label'";
  ds = open_dataset(file.get(), layout::kLabel, H5P_DEFAULT, path);
  dims = h5::dims_of(ds.get(), where);
  if (info.label_kind == LabelKind::Class) {
    if (dims.size() != 1 || static_cast<int64_t>(dims[0]) != n)
      throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + "] for class labels");
    labels = read_all(ds.get(), H5T_NATIVE_INT64, torch::kInt64, dims, where);
  } else {
    if (dims.size() != 2 || static_cast<int64_t>(dims[0]) != n || static_cast<int64_t>(dims[1]) != info.num_labels)
      throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + ", " +
                                std::to_string(info.num_labels) + "]");
    labels = read_all(ds.get(), H5T_NATIVE_FLOAT, torch::kFloat32, dims, where);
  }
}

ShardExample ShardReader::Impl::example(int64_t i, const torch::Tensor& rows, int64_t first_row) const {
  ShardExample ex;
  ex.id = ids[i];
  ex.features = rows.narrow(0, offsets[i] - first_row, offsets[i + 1] - offsets[i]);
  ex.label = labels[i].clone();  // int64 scalar (class) or float32 [num_labels]
  return ex;
}

ShardReader::ShardReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->open();
}

ShardReader::~ShardReader() = default;

const ShardSetInfo& ShardReader::info() const { return impl_->info; }
int64_t ShardReader::shard_index() const { return impl_->shard_index; }
int64_t ShardReader::size() const { return impl_->n; }
const std::vector<int64_t>& ShardReader::ids() const { return impl_->ids; }
const std::string& ShardReader::path() const { return impl_->path; }

int64_t ShardReader::num_tokens(int64_t i) const {
  if (i < 0 || i >= impl_->n)
    throw error_at(impl_->path, "example index " + std::to_string(i) + " is out of range (" +
                                    std::to_string(impl_->n) + " examples)");
  return impl_->offsets[i + 1] - impl_->offsets[i];
}

const torch::Tensor& ShardReader::labels() const { return impl_->labels; }
bool ShardReader::contiguous() const { return impl_->contiguous; }

ShardExample ShardReader::read(int64_t i) const {
  num_tokens(i);  // range check
  auto examples = read_range(i, i + 1);
  return std::move(examples[0]);
}

std::vector<ShardExample> ShardReader::read_range(int64_t begin, int64_t end, bool stored_dtype) const {
  const Impl& m = *impl_;
  if (begin < 0 || end > m.n || begin > end)
    throw error_at(m.path, "example range [" + std::to_string(begin) + ", " + std::to_string(end) +
                               ") is out of range (" + std::to_string(m.n) + " examples)");
  std::vector<ShardExample> out;
  if (begin == end) return out;
  const std::string where = m.path + ": dataset 'features'";
  hsize_t first = static_cast<hsize_t>(m.offsets[begin]), rows = static_cast<hsize_t>(m.offsets[end]) - first;
  hsize_t start[3] = {first, 0, 0}, count[3] = {rows, static_cast<hsize_t>(m.tiers), static_cast<hsize_t>(m.d)};
  h5::Handle file_space = h5::space(H5Dget_space(m.features.get()), where, "cannot get dataspace");
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), where,
            "cannot select token rows");
  h5::Handle mem_space = h5::space(H5Screate_simple(3, count, nullptr), where, "cannot create dataspace");
  torch::Tensor raw = torch::empty({static_cast<int64_t>(rows), m.tiers, m.d}, torch_dtype(m.info.dtype));
  h5::check(H5Dread(m.features.get(), m.feature_type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                    raw.data_ptr()),
            where,
            "cannot read examples " + std::to_string(begin) + ".." + std::to_string(end - 1) + " (token rows " +
                std::to_string(first) + ".." + std::to_string(first + rows - 1) + ")");
  torch::Tensor values = stored_dtype ? raw : to_float32(raw);
  for (int64_t i = begin; i < end; ++i) out.push_back(m.example(i, values, static_cast<int64_t>(first)));
  // Readers that convert check here; those that keep the stored dtype check the batches
  // they make (check_finite, sherl/workflows/batch_loader.h).
  if (!stored_dtype && !torch::isfinite(values).all().item<bool>())
    for (const ShardExample& e : out)
      if (!torch::isfinite(e.features).all().item<bool>())
        throw error_at(m.path, "example " + std::to_string(e.id) + ": features hold NaN or infinite values");
  return out;
}

}  // namespace sherl
