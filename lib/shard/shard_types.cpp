// The small value types of format.h: dtype names and sizes, compression settings.
#include "lib/core/enum_names.h"
#include "lib/core/error.h"
#include "lib/shard/format.h"
#include "lib/shard/hdf5_util.h"

namespace sherl {

namespace {

constexpr EnumName<FeatureDType> kDTypeNames[] = {
    {FeatureDType::F32, "f32"},     {FeatureDType::F16, "f16"},     {FeatureDType::BF16, "bf16"},
    {FeatureDType::I8, "i8"},       {FeatureDType::F32, "float32"}, {FeatureDType::F16, "float16"},
    {FeatureDType::BF16, "bfloat16"}, {FeatureDType::I8, "int8"}};

}  // namespace

std::string to_string(FeatureDType t) { return name_of(kDTypeNames, t); }
FeatureDType parse_feature_dtype(const std::string& s) { return parse_name(kDTypeNames, s, "feature dtype"); }
size_t value_bytes(FeatureDType t) {
  switch (t) {
    case FeatureDType::F32: return 4;
    case FeatureDType::F16:
    case FeatureDType::BF16: return 2;
    case FeatureDType::I8: return 1;
  }
  return 4;
}

int64_t row_bytes(FeatureDType t, int64_t tiers, int64_t d) {
  const int64_t scales = t == FeatureDType::I8 ? tiers * int64_t(sizeof(float)) : 0;
  return tiers * d * static_cast<int64_t>(value_bytes(t)) + scales;
}

std::string compression_problem(const CompressionOptions& c) {
  if (c.zstd_level < 0 || c.zstd_level > 22)
    return "zstd level " + std::to_string(c.zstd_level) + " is out of range 0..22";
  return "";
}

void register_zstd_filter() { h5::init(); }

}  // namespace sherl
