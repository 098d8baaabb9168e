// A .safetensors file: the header parser and the tensor reads it permits.
#include "lib/core/error.h"
#include "lib/model/safetensors.h"
#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {

int safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_input(scratch_subdir("safetensors") + "/model.safetensors", data, size);
  try {
    SafetensorsFile file(path);
    for (const std::string& name : file.names()) {
      std::vector<int64_t> shape = file.shape(name);
      torch::Tensor t = file.get(name);
      expect(t.sizes().vec() == shape, "tensor '" + name + "' read with another shape than the header's");
    }
    expect(!file.contains("__metadata__"), "__metadata__ taken for a tensor");
  } catch (const Error& e) {
    expect_names(e, path);
  }
  return 0;
}

}  // namespace sherl::fuzz
