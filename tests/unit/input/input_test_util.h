#pragma once
// Helpers for the input tests: a scratch directory, small files and model directories
// written by the tests themselves (no committed binaries).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lib/core/error.h"
#include "lib/input/source.h"

namespace sherl::test {

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/sherl-input.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~ScratchDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// An IDX file of unsigned bytes; gzip-compressed when `gzip`.
inline void write_idx(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                      bool gzip, size_t truncate_to = size_t(-1)) {
  std::string bytes = {0, 0, 8, char(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(char((d >> s) & 0xFF));
  bytes.append(data.begin(), data.end());
  if (truncate_to < bytes.size()) bytes.resize(truncate_to);
  if (gzip) {
    gzFile gz = gzopen(path.c_str(), "wb");
    gzwrite(gz, bytes.data(), unsigned(bytes.size()));
    gzclose(gz);
  } else {
    write_text(path, bytes);
  }
}

// A ViT-like image model directory (config.json + preprocessor_config.json).
inline std::string write_image_model(const ScratchDir& dir, int channels, int image_size,
                                     const std::string& preprocessor_json) {
  std::string model = dir / "image-model";
  std::system(("mkdir -p '" + model + "'").c_str());
  write_text(model + "/config.json", "{\"model_type\": \"vit\", \"num_channels\": " + std::to_string(channels) +
                                         ", \"image_size\": " + std::to_string(image_size) + "}");
  write_text(model + "/preprocessor_config.json", preprocessor_json);
  return model;
}

// A BERT-like text model directory; vocab.txt only when `vocab` is non-empty.
inline std::string write_text_model(const ScratchDir& dir, const std::vector<std::string>& vocab,
                                    const std::string& tokenizer_config = "", int vocab_size = 100) {
  std::string model = dir / "text-model";
  std::system(("mkdir -p '" + model + "'").c_str());
  write_text(model + "/config.json", "{\"model_type\": \"bert\", \"vocab_size\": " + std::to_string(vocab_size) +
                                         ", \"type_vocab_size\": 2, \"max_position_embeddings\": 512, "
                                         "\"pad_token_id\": 0}");
  if (!vocab.empty()) {
    std::string text;
    for (const auto& t : vocab) text += t + "\n";
    write_text(model + "/vocab.txt", text);
  }
  if (!tokenizer_config.empty()) write_text(model + "/tokenizer_config.json", tokenizer_config);
  return model;
}

// All examples a source yields.
inline std::vector<RawExample> drain(const InputSpec& spec, const InputPlan& plan) {
  auto source = open_source(spec, plan);
  std::vector<RawExample> out;
  RawExample e;
  while (source->next(e)) out.push_back(e);
  return out;
}

// Expects `body` to throw sherl::Error whose message contains every fragment.
template <typename F>
void expect_error(F body, const std::vector<std::string>& fragments) {
  try {
    body();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << fragments.at(0) << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

}  // namespace sherl::test

namespace sherl::test {
inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace sherl::test
