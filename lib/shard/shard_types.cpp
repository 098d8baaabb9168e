// The small value types of shard.h: dtype names, compression settings.
#include "lib/core/error.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"

namespace sherl {

std::string to_string(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return "f32";
    case FeatureDType::F16: return "f16";
    case FeatureDType::BF16: return "bf16";
  }
  return "?";
}

FeatureDType parse_feature_dtype(const std::string& s) {
  if (s == "f32" || s == "float32") return FeatureDType::F32;
  if (s == "f16" || s == "float16") return FeatureDType::F16;
  if (s == "bf16" || s == "bfloat16") return FeatureDType::BF16;
  throw Error("unknown feature dtype '" + s + "' (expected f32, f16 or bf16)");
}

torch::ScalarType torch_dtype(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return torch::kFloat32;
    case FeatureDType::F16: return torch::kFloat16;
    case FeatureDType::BF16: return torch::kBFloat16;
  }
  return torch::kFloat32;
}

std::string compression_problem(const CompressionOptions& c) {
  if (c.zstd_level < 0 || c.zstd_level > 22)
    return "zstd level " + std::to_string(c.zstd_level) + " is out of range 0..22";
  return "";
}

void register_zstd_filter() { h5::init(); }

}  // namespace sherl
