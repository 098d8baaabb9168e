// Safetensors reading and writing: a round trip of every dtype, and headers that lie, each
// of which must be a one-line sherl::Error naming the file and the tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/model/safetensors.h"

namespace fs = std::filesystem;

namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sherl-st-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file with the given header text (length prefix written as declared) and data bytes.
  std::string write_raw(const std::string& header, size_t data_bytes, uint64_t declared_len = UINT64_MAX) {
    std::string path = (dir_ / "t.safetensors").string();
    uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << header << std::string(data_bytes, '\x01');
    return path;
  }

  // Expects opening `path` to throw a message that names it and contains `what`.
  void expect_error(const std::string& path, const std::string& what) {
    try {
      sherl::SafetensorsFile f(path);
      FAIL() << "no error for " << what;
    } catch (const sherl::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path + ": "), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

TEST_F(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  std::map<std::string, torch::Tensor> in{
      {"f32", torch::randn({3, 5})},
      {"f16", torch::randn({7}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"f64", torch::randn({4}, torch::kFloat64)},
      {"i64", torch::arange(6, torch::kInt64).view({2, 3})},
      {"i32", torch::arange(5, torch::kInt32)},
      {"u8", torch::arange(9, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5f)},
      {"empty", torch::zeros({0, 4})},
      {"strided", torch::randn({4, 6}).t()},  // not contiguous: written as its logical values
  };
  std::string path = (dir_ / "rt.safetensors").string();
  sherl::write_safetensors(path, in, {{"format", "pt"}, {"note", "x"}});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1) << "temporary left behind";

  sherl::SafetensorsFile f(path);
  std::vector<std::string> expected_names;
  for (const auto& kv : in) expected_names.push_back(kv.first);
  EXPECT_EQ(f.names(), expected_names);
  EXPECT_EQ(f.metadata().at("note"), "x");
  EXPECT_EQ(f.path(), path);
  for (const auto& [name, t] : in) {
    ASSERT_TRUE(f.contains(name));
    EXPECT_EQ(f.shape(name), t.sizes().vec()) << name;
    auto back = f.get(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  EXPECT_FALSE(f.contains("missing"));
  try {
    f.get("missing");
    FAIL();
  } catch (const sherl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": tensor 'missing': not in this file"), std::string::npos);
  }
  // The data buffer starts 8-byte aligned, as the format recommends.
  std::ifstream raw(path, std::ios::binary);
  uint64_t n = 0;
  raw.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST_F(Safetensors, ReadsUnalignedData) {
  // A 2-byte header misaligns the F32 data; the reader must still return the values.
  float v[2] = {1.5f, -2.25f};
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string path = (dir_ / "u.safetensors").string();
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f.write(reinterpret_cast<const char*>(v), sizeof v);
  f.close();
  auto t = sherl::SafetensorsFile(path).get("w");
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.25f);
}

TEST_F(Safetensors, HeaderLengthLargerThanFile) {
  expect_error(write_raw(R"({})", 0, 1000), "header length 1000 exceeds the file size");
}

TEST_F(Safetensors, HostileHeaderLengths) {
  // A length field claiming a terabyte: refused from the file size, nothing allocated.
  expect_error(write_raw(R"({})", 0, uint64_t(1) << 40), "header length 1099511627776 exceeds the file size 10");
  expect_error(write_raw(R"({})", 0, UINT64_MAX - 1), "exceeds the file size");
  // A length within a (sparse) 200 MB file but above the 100 MB cap: refused unread.
  std::string path = write_raw("", 0, uint64_t(150) << 20);
  fs::resize_file(path, uint64_t(200) << 20);
  expect_error(path, "header length 157286400 is implausibly large");
}

TEST_F(Safetensors, DeeplyNestedHeader) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_error(write_raw(R"({"w": )" + deep + "}", 0), "header is not valid JSON: nested deeper than 64 levels");
  expect_error(write_raw(R"({"__metadata__": {"k": )" + deep + "}}", 0), "nested deeper than 64 levels");
}

TEST_F(Safetensors, TooShortForLength) {
  std::string path = (dir_ / "short.safetensors").string();
  std::ofstream(path) << "abc";
  expect_error(path, "shorter than the 8-byte header length");
}

TEST_F(Safetensors, MalformedJson) {
  expect_error(write_raw(R"({"w": {"dtype": "F32", )", 0), "header is not valid JSON");
  expect_error(write_raw(R"([1, 2])", 0), "header is not a JSON object");
}

TEST_F(Safetensors, OffsetsOutOfRange) {
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 12),
               "tensor 'w': data_offsets [0, 16] run past the data buffer of 12 bytes");
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 12),
               "tensor 'w': data_offsets begin after they end");
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 12),
               "tensor 'w': 'data_offsets' is not a pair of non-negative integers");
  // Offsets past 2^64 parse as floating point; offsets near it must not wrap around.
  expect_error(write_raw(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551620]}})", 12),
               "tensor 'w': 'data_offsets' is not a pair of non-negative integers");
  expect_error(write_raw(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[18446744073709551614,0]}})", 12),
               "tensor 'w': data_offsets begin after they end");
  expect_error(write_raw(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[18446744073709551613,18446744073709551615]}})", 12),
               "tensor 'w': data_offsets [18446744073709551613, 18446744073709551615] run past the data buffer");
}

TEST_F(Safetensors, OverlappingTensors) {
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
               "tensor 'b': data overlaps tensor 'a'");
}

TEST_F(Safetensors, UnknownDtype) {
  expect_error(write_raw(R"({"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}})", 2),
               "tensor 'w': unknown dtype 'F8_E9'");
}

TEST_F(Safetensors, ShapeDoesNotMatchByteSize) {
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
               "tensor 'w': shape x dtype size is 16 bytes but data_offsets span 12");
  // A shape whose byte size overflows 64 bits must not wrap around to a match.
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0),
               "tensor 'w': shape is too large");
  // An empty tensor whose other dimensions do not fit in int64 (LibTorch could not make it).
  expect_error(write_raw(R"({"w":{"dtype":"U8","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", 0),
               "tensor 'w': shape is too large");
  expect_error(write_raw(R"({"w":{"dtype":"U8","shape":[4611686018427387904,4611686018427387904,0],)"
                         R"("data_offsets":[0,0]}})", 0),
               "tensor 'w': shape is too large");
  expect_error(write_raw(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "tensor 'w': shape has a non-integer or negative dimension");
}

TEST_F(Safetensors, MalformedEntries) {
  expect_error(write_raw(R"({"w":[1]})", 0), "tensor 'w': header entry is not an object");
  expect_error(write_raw(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'w': missing or non-string 'dtype'");
  expect_error(write_raw(R"({"__metadata__":{"k":1}})", 0), "__metadata__ value 'k' is not a string");
}

TEST_F(Safetensors, MissingFile) {
  expect_error((dir_ / "absent.safetensors").string(), "cannot open");
}

TEST_F(Safetensors, WriterRejectsUnstorableDtype) {
  std::string path = (dir_ / "c.safetensors").string();
  try {
    sherl::write_safetensors(path, {{"z", torch::zeros({2}, torch::kComplexFloat)}});
    FAIL();
  } catch (const sherl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": tensor 'z': dtype"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
