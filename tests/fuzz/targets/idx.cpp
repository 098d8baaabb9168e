// An IDX file (plain, or gzip when it starts with the gzip magic), read item by item as the
// IDX source does: a check of the size the header announces, reads and skips, the end.
#include <algorithm>
#include <vector>

#include "lib/core/error.h"
#include "lib/input/idx_reader.h"
#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {

int idx(const uint8_t* data, size_t size) {
  const std::string path = write_input(scratch_subdir("idx") + "/images.idx", data, size);
  looks_like_idx(path);
  try {
    IdxReader reader(path, "images.idx");
    expect(!reader.dims().empty() && reader.dims().size() <= 4, "IDX dimensions out of range");
    expect(reader.item_bytes() > 0 && reader.item_bytes() <= (int64_t(1) << 30), "IDX item size out of range");
    reader.check_plain_size();
    // The reader allows items up to 1 GiB; reading such items here would only slow the fuzzer.
    if (reader.item_bytes() > (int64_t(1) << 20)) return 0;
    std::vector<uint8_t> item(size_t(reader.item_bytes()));
    int64_t items = std::min<int64_t>(reader.count(), 64);
    for (int64_t i = 0; i < items; ++i) {
      // Alternate reads and skips as label selection does.
      if (i % 3 == 1) {
        reader.skip();
      } else {
        reader.read(item.data());
      }
      expect(reader.position() == i + 1, "IDX position does not advance by one item");
    }
    if (items == reader.count()) reader.expect_end();
  } catch (const Error& e) {
    expect_names(e, "images.idx");
  }
  return 0;
}

}  // namespace sherl::fuzz
