#pragma once
// Thin RAII and error plumbing over the HDF5 C API for the shard code: handles that close
// themselves, HDF5 failures turned into one-line sherl::Error messages (HDF5's own
// error-stack printing is silenced), and typed attribute access.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sherl::h5 {

// Silences HDF5's automatic error printing (in the calling thread: a thread-safe HDF5 keeps
// it per thread) and registers the zstd filter; idempotent and cheap, so that every entry
// point that may run on a worker thread calls it.
void init();

// The most specific description HDF5 left on its error stack for the last failure
// (e.g. "data error detected by Fletcher32 checksum"), or "" when there is none.
std::string last_error_detail();

// "<what>" plus " (<HDF5 detail>)" when HDF5 says more.
std::string with_detail(const std::string& what);

// An owned hid_t, closed with the matching H5*close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      closer_ = o.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports failure (closing a file flushes it, which can fail).
  bool close();
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// Each throws sherl::Error("<where>: <what> (<detail>)") when HDF5 returns a negative id.
Handle checked(hid_t id, Handle::Closer closer, const std::string& where, const std::string& what);
inline Handle file(hid_t id, const std::string& where, const std::string& what) { return checked(id, H5Fclose, where, what); }
inline Handle dataset(hid_t id, const std::string& where, const std::string& what) { return checked(id, H5Dclose, where, what); }
inline Handle space(hid_t id, const std::string& where, const std::string& what) { return checked(id, H5Sclose, where, what); }
inline Handle type(hid_t id, const std::string& where, const std::string& what) { return checked(id, H5Tclose, where, what); }
inline Handle plist(hid_t id, const std::string& where, const std::string& what) { return checked(id, H5Pclose, where, what); }
void check(herr_t rc, const std::string& where, const std::string& what);

// The dimensions of a dataset.
std::vector<hsize_t> dims_of(hid_t dataset, const std::string& where);

bool has_attribute(hid_t obj, const std::string& name);
void write_attribute(hid_t obj, const std::string& name, const std::string& value, const std::string& where);
void write_attribute(hid_t obj, const std::string& name, int64_t value, const std::string& where);
void write_attribute(hid_t obj, const std::string& name, const std::vector<int64_t>& values, const std::string& where);
void write_attribute(hid_t obj, const std::string& name, const std::vector<std::string>& values, const std::string& where);
// Readers throw "<where>: attribute '<name>' is missing / is not a <kind>".
std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& where);
int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& where);
std::vector<int64_t> read_int_array_attribute(hid_t obj, const std::string& name, const std::string& where);
std::vector<std::string> read_string_array_attribute(hid_t obj, const std::string& name, const std::string& where);

}  // namespace sherl::h5
