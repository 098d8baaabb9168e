#include "lib/shard/hdf5_util.h"

#include <mutex>
#include <regex>

#include "lib/core/error.h"
#include "lib/shard/zstd_filter.h"

namespace sherl::h5 {

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Before any other HDF5 call: no library shutdown at exit. After a failed write (a
    // full disk) HDF5 1.10 keeps a file it could not close and crashes closing it again
    // in its exit handler; every file sherl writes is closed explicitly before that.
    H5dont_atexit();
    if (H5Zfilter_avail(kZstdFilterId) <= 0) H5Zregister(zstd_filter_class());
  });
  // Our errors are one-line messages; HDF5's stack dumps would bury them. A thread-safe
  // HDF5 keeps this setting per thread: every thread that calls HDF5 comes here first.
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

namespace {

herr_t keep_innermost(unsigned n, const H5E_error2_t* err, void* data) {
  // The walk starts at the innermost error, which names the actual cause.
  auto* out = static_cast<std::string*>(data);
  if (n == 0 && err->desc) *out = err->desc;
  return 0;
}

// HDF5's I/O errors read "file write failed: time = <date>\n, filename = ..., errno = 27,
// error message = 'File too large', buf = ..., offset = ..." (several lines, addresses):
// keep "file write failed: File too large", the part a user can act on.
std::string condense(const std::string& desc) {
  static const std::regex system_error("^([^:]*):.*error message = '([^']*)'");
  std::smatch m;
  std::string one_line = std::regex_replace(desc, std::regex("\\s*\n\\s*"), " ");
  if (std::regex_search(one_line, m, system_error)) return m.str(1) + ": " + m.str(2);
  return one_line;
}

}  // namespace

std::string last_error_detail() {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &detail);
  H5Eclear2(H5E_DEFAULT);
  return condense(detail);
}

std::string with_detail(const std::string& what) {
  std::string detail = last_error_detail();
  return detail.empty() ? what : what + " (" + detail + ")";
}

bool Handle::close() {
  if (id_ < 0) return true;
  herr_t rc = closer_(id_);
  id_ = -1;
  return rc >= 0;
}

Handle checked(hid_t id, Handle::Closer closer, const std::string& where, const std::string& what) {
  if (id < 0) throw error_at(where, with_detail(what));
  return Handle(id, closer);
}

void check(herr_t rc, const std::string& where, const std::string& what) {
  if (rc < 0) throw error_at(where, with_detail(what));
}

std::vector<hsize_t> dims_of(hid_t dataset, const std::string& where) {
  Handle sp = space(H5Dget_space(dataset), where, "cannot get dataspace");
  int rank = H5Sget_simple_extent_ndims(sp.get());
  if (rank < 0) throw error_at(where, with_detail("cannot get rank"));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr);
  return dims;
}

bool has_attribute(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

namespace {

Handle utf8_string_type() {
  Handle t = type(H5Tcopy(H5T_C_S1), "HDF5", "cannot create string type");
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

void write_raw_attribute(hid_t obj, const std::string& name, hid_t type_id, hid_t space_id, const void* data,
                         const std::string& where) {
  if (has_attribute(obj, name)) H5Adelete(obj, name.c_str());
  Handle attr = checked(H5Acreate2(obj, name.c_str(), type_id, space_id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                        where, "cannot create attribute '" + name + "'");
  check(H5Awrite(attr.get(), type_id, data), where, "cannot write attribute '" + name + "'");
}

Handle open_attribute(hid_t obj, const std::string& name, const std::string& where) {
  if (!has_attribute(obj, name)) throw error_at(where, "attribute '" + name + "' is missing");
  return checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, where, "cannot open attribute '" + name + "'");
}

// Number of elements of an attribute, checking its type class.
hssize_t attribute_elements(hid_t attr, H5T_class_t want, const std::string& name, const std::string& kind,
                            const std::string& where) {
  Handle t = type(H5Aget_type(attr), where, "cannot get type of attribute '" + name + "'");
  if (H5Tget_class(t.get()) != want) throw error_at(where, "attribute '" + name + "' is not " + kind);
  Handle sp = space(H5Aget_space(attr), where, "cannot get dataspace of attribute '" + name + "'");
  return H5Sget_simple_extent_npoints(sp.get());
}

std::vector<std::string> read_strings(hid_t obj, const std::string& name, const std::string& where) {
  Handle attr = open_attribute(obj, name, where);
  hssize_t n = attribute_elements(attr.get(), H5T_STRING, name, "a string", where);
  Handle file_type = type(H5Aget_type(attr.get()), where, "cannot get type of attribute '" + name + "'");
  if (!H5Tis_variable_str(file_type.get())) {
    // Fixed-length strings (as some writers make them): read into one padded buffer.
    size_t len = H5Tget_size(file_type.get());
    std::vector<char> buf(len * static_cast<size_t>(n) + 1, '\0');
    check(H5Aread(attr.get(), file_type.get(), buf.data()), where, "cannot read attribute '" + name + "'");
    std::vector<std::string> out;
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      out.push_back(s.substr(0, s.find('\0')));
    }
    return out;
  }
  Handle mem = utf8_string_type();
  std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
  check(H5Aread(attr.get(), mem.get(), ptrs.data()), where, "cannot read attribute '" + name + "'");
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  Handle sp = space(H5Aget_space(attr.get()), where, "cannot get dataspace");
  H5Dvlen_reclaim(mem.get(), sp.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

}  // namespace

void write_attribute(hid_t obj, const std::string& name, const std::string& value, const std::string& where) {
  Handle t = utf8_string_type();
  Handle sp = space(H5Screate(H5S_SCALAR), where, "cannot create dataspace");
  const char* p = value.c_str();
  write_raw_attribute(obj, name, t.get(), sp.get(), &p, where);
}

void write_attribute(hid_t obj, const std::string& name, int64_t value, const std::string& where) {
  Handle sp = space(H5Screate(H5S_SCALAR), where, "cannot create dataspace");
  write_raw_attribute(obj, name, H5T_STD_I64LE, sp.get(), &value, where);
}

void write_attribute(hid_t obj, const std::string& name, const std::vector<int64_t>& values, const std::string& where) {
  hsize_t n = values.size();
  Handle sp = space(n ? H5Screate_simple(1, &n, nullptr) : H5Screate(H5S_NULL), where, "cannot create dataspace");
  write_raw_attribute(obj, name, H5T_STD_I64LE, sp.get(), values.data(), where);
}

void write_attribute(hid_t obj, const std::string& name, const std::vector<std::string>& values,
                     const std::string& where) {
  Handle t = utf8_string_type();
  hsize_t n = values.size();
  Handle sp = space(n ? H5Screate_simple(1, &n, nullptr) : H5Screate(H5S_NULL), where, "cannot create dataspace");
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_raw_attribute(obj, name, t.get(), sp.get(), ptrs.data(), where);
}

std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& where) {
  auto values = read_strings(obj, name, where);
  if (values.size() != 1) throw error_at(where, "attribute '" + name + "' is not a single string");
  return values[0];
}

std::vector<std::string> read_string_array_attribute(hid_t obj, const std::string& name, const std::string& where) {
  return read_strings(obj, name, where);
}

std::vector<int64_t> read_int_array_attribute(hid_t obj, const std::string& name, const std::string& where) {
  Handle attr = open_attribute(obj, name, where);
  hssize_t n = attribute_elements(attr.get(), H5T_INTEGER, name, "an integer", where);
  std::vector<int64_t> out(static_cast<size_t>(n));
  if (n > 0) check(H5Aread(attr.get(), H5T_NATIVE_INT64, out.data()), where, "cannot read attribute '" + name + "'");
  return out;
}

int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& where) {
  auto values = read_int_array_attribute(obj, name, where);
  if (values.size() != 1) throw error_at(where, "attribute '" + name + "' is not a single integer");
  return values[0];
}

}  // namespace sherl::h5
