// ShardFile: opens a shard read-only, validates its structure once, then serves the stored
// values of whole examples by reading only the token rows (hence chunks) they occupy.
#include <filesystem>

#include "lib/core/error.h"
#include "lib/shard/format.h"
#include "lib/shard/hdf5_util.h"
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

// Reads a whole 1-D or 2-D dataset of `T` values through `mem_type`.
template <typename T>
std::vector<T> read_all(hid_t ds, hid_t mem_type, const std::vector<hsize_t>& dims, const std::string& where) {
  size_t count = 1;
  for (hsize_t d : dims) count *= static_cast<size_t>(d);
  std::vector<T> out(count);
  if (count > 0) h5::check(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), where, "read failed");
  return out;
}

}  // namespace

struct ShardFile::Impl {
  std::string path;
  ShardSetInfo info;
  int64_t shard_index = 0;
  h5::Handle file, features, feature_type;
  h5::Handle scales;  // dtype I8: feature_scales
  int64_t n = 0, tiers = 0, d = 0;
  bool contiguous = false;
  std::vector<int64_t> offsets, ids, class_labels;
  std::vector<float> label_values;

  void open();
  void check_features();
  void check_scales(hsize_t rows);
  // Reads token rows [first, first + count[0]) of a token-row dataset into `out`.
  void read_rows(hid_t ds, hid_t mem_type, int64_t begin, int64_t end, std::vector<hsize_t> count, void* out,
                 const std::string& where) const;
  void load_offsets();
  void load_ids_and_labels();
};

void ShardFile::Impl::open() {
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

void ShardFile::Impl::check_features() {
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
  // The attribute repeats the root's; a file that says two things is not trusted.
  if (h5::has_attribute(features.get(), "dtype") &&
      h5::read_string_attribute(features.get(), "dtype", where) != to_string(info.dtype))
    throw error_at(where, "attribute 'dtype' contradicts the root attribute dtype '" + to_string(info.dtype) + "'");
  if (info.dtype == FeatureDType::I8) check_scales(dims[0]);
  else if (H5Lexists(file.get(), layout::kFeatureScales, H5P_DEFAULT) > 0)
    throw error_at(path, std::string("dataset '") + layout::kFeatureScales + "' belongs to dtype i8, not " +
                             to_string(info.dtype));
}

void ShardFile::Impl::check_scales(hsize_t rows) {
  const std::string where = path + ": dataset '" + layout::kFeatureScales + "'";
  scales = open_dataset(file.get(), layout::kFeatureScales, H5P_DEFAULT, path);
  auto dims = h5::dims_of(scales.get(), where);
  if (dims.size() != 2 || dims[0] != rows || static_cast<int64_t>(dims[1]) != tiers)
    throw error_at(where, "shape " + shape_string(dims) + " does not match the [" + std::to_string(rows) + ", " +
                              std::to_string(tiers) + "] rows of 'features' (dtype i8)");
  h5::Handle type = h5::type(H5Dget_type(scales.get()), where, "cannot get type");
  h5::Handle float32 = h5::type(H5Tcopy(H5T_IEEE_F32LE), where, "cannot copy float32 type");
  if (H5Tequal(type.get(), float32.get()) <= 0) throw error_at(where, "stored type is not float32");
}

void ShardFile::Impl::load_offsets() {
  const std::string where = path + ": dataset 'offsets'";
  h5::Handle ds = open_dataset(file.get(), layout::kOffsets, H5P_DEFAULT, path);
  auto dims = h5::dims_of(ds.get(), where);
  if (dims.size() != 1 || dims[0] < 1) throw error_at(where, "shape " + shape_string(dims) + " is not [examples + 1]");
  offsets = read_all<int64_t>(ds.get(), H5T_NATIVE_INT64, dims, where);
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

void ShardFile::Impl::load_ids_and_labels() {
  std::string where = path + ": dataset 'example_id'";
  h5::Handle ds = open_dataset(file.get(), layout::kExampleId, H5P_DEFAULT, path);
  auto dims = h5::dims_of(ds.get(), where);
  if (dims.size() != 1 || static_cast<int64_t>(dims[0]) != n)
    throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + "] (from 'offsets')");
  ids = read_all<int64_t>(ds.get(), H5T_NATIVE_INT64, dims, where);

  where = path + ": dataset 'label'";
  ds = open_dataset(file.get(), layout::kLabel, H5P_DEFAULT, path);
  dims = h5::dims_of(ds.get(), where);
  if (info.label_kind == LabelKind::Class) {
    if (dims.size() != 1 || static_cast<int64_t>(dims[0]) != n)
      throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + "] for class labels");
    class_labels = read_all<int64_t>(ds.get(), H5T_NATIVE_INT64, dims, where);
  } else {
    if (dims.size() != 2 || static_cast<int64_t>(dims[0]) != n || static_cast<int64_t>(dims[1]) != info.num_labels)
      throw error_at(where, "shape " + shape_string(dims) + " is not [" + std::to_string(n) + ", " +
                                std::to_string(info.num_labels) + "]");
    label_values = read_all<float>(ds.get(), H5T_NATIVE_FLOAT, dims, where);
  }
}

ShardFile::ShardFile(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->open();
}

ShardFile::ShardFile(ShardFile&&) noexcept = default;
ShardFile& ShardFile::operator=(ShardFile&&) noexcept = default;
ShardFile::~ShardFile() = default;

const std::string& ShardFile::path() const { return impl_->path; }
const ShardSetInfo& ShardFile::info() const { return impl_->info; }
int64_t ShardFile::shard_index() const { return impl_->shard_index; }
int64_t ShardFile::size() const { return impl_->n; }
const std::vector<int64_t>& ShardFile::offsets() const { return impl_->offsets; }
const std::vector<int64_t>& ShardFile::ids() const { return impl_->ids; }
const std::vector<int64_t>& ShardFile::class_labels() const { return impl_->class_labels; }
const std::vector<float>& ShardFile::label_values() const { return impl_->label_values; }
bool ShardFile::contiguous() const { return impl_->contiguous; }

int64_t ShardFile::num_tokens(int64_t i) const {
  if (i < 0 || i >= impl_->n)
    throw error_at(impl_->path, "example index " + std::to_string(i) + " is out of range (" +
                                    std::to_string(impl_->n) + " examples)");
  return impl_->offsets[i + 1] - impl_->offsets[i];
}

int64_t ShardFile::token_rows(int64_t begin, int64_t end) const {
  const Impl& m = *impl_;
  if (begin < 0 || end > m.n || begin > end)
    throw error_at(m.path, "example range [" + std::to_string(begin) + ", " + std::to_string(end) +
                               ") is out of range (" + std::to_string(m.n) + " examples)");
  return m.offsets[end] - m.offsets[begin];
}

void ShardFile::Impl::read_rows(hid_t ds, hid_t mem_type, int64_t begin, int64_t end, std::vector<hsize_t> count,
                                void* out, const std::string& where) const {
  const auto first = static_cast<hsize_t>(offsets[begin]), rows = static_cast<hsize_t>(offsets[end] - offsets[begin]);
  if (rows == 0) return;
  count.insert(count.begin(), rows);
  std::vector<hsize_t> start(count.size(), 0);
  start[0] = first;
  h5::Handle file_space = h5::space(H5Dget_space(ds), where, "cannot get dataspace");
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), where,
            "cannot select token rows");
  h5::Handle mem_space =
      h5::space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), where, "cannot create dataspace");
  h5::check(H5Dread(ds, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out), where,
            "cannot read examples " + std::to_string(begin) + ".." + std::to_string(end - 1) + " (token rows " +
                std::to_string(first) + ".." + std::to_string(first + rows - 1) + ")");
}

void ShardFile::read_features(int64_t begin, int64_t end, void* out) const {
  h5::init();  // readers run on the batch loader's thread
  const Impl& m = *impl_;
  token_rows(begin, end);  // range check
  m.read_rows(m.features.get(), m.feature_type.get(), begin, end,
              {static_cast<hsize_t>(m.tiers), static_cast<hsize_t>(m.d)}, out, m.path + ": dataset 'features'");
}

void ShardFile::read_scales(int64_t begin, int64_t end, float* out) const {
  h5::init();
  const Impl& m = *impl_;
  token_rows(begin, end);
  if (!m.scales.valid()) throw error_at(m.path, "dtype " + to_string(m.info.dtype) + " has no feature scales");
  m.read_rows(m.scales.get(), H5T_NATIVE_FLOAT, begin, end, {static_cast<hsize_t>(m.tiers)}, out,
              m.path + ": dataset '" + layout::kFeatureScales + "'");
}

}  // namespace sherl
