// The small value types of shard.h: dtype names, compression settings.
#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/shard/hdf5_util.h"
#include "lib/shard/shard.h"

namespace sherl {

namespace {

constexpr EnumName<FeatureDType> kDTypeNames[] = {
    {FeatureDType::F32, "f32"},     {FeatureDType::F16, "f16"},     {FeatureDType::BF16, "bf16"},
    {FeatureDType::F32, "float32"}, {FeatureDType::F16, "float16"}, {FeatureDType::BF16, "bfloat16"}};

}  // namespace

std::string to_string(FeatureDType t) { return name_of(kDTypeNames, t); }
FeatureDType parse_feature_dtype(const std::string& s) { return parse_name(kDTypeNames, s, "feature dtype"); }

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
