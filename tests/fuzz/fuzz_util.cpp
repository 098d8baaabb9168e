#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {
namespace {

struct ScratchDir {
  std::string path;
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/sherl-fuzz.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) fail("cannot create a scratch directory under " + tmpl);
    path = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::string scratch_subdir(const std::string& name) {
  static ScratchDir dir;
  std::string path = dir.path + "/" + name;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail("cannot create " + path + ": " + ec.message());
  return path;
}

std::string write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) fail("cannot write " + path);
  return path;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) fail("cannot write " + path);
}

const std::string& text_model_dir() {
  static const std::string dir = [] {
    std::string d = scratch_subdir("text-model");
    write_text(d + "/config.json",
               R"({"model_type": "bert", "vocab_size": 64, "type_vocab_size": 2, "max_position_embeddings": 512})");
    // Whole words, "##" continuations, punctuation, accented and CJK characters.
    const char* tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat", "on",
                            "mat", "un", "##aff", "##able", "##s", "##ing", "run", "é", "e", "naive", "café",
                            "中", "国", "!", ",", ".", "'", "-", "1", "##2", "x", "##x"};
    std::string text;
    for (const char* t : tokens) text += std::string(t) + "\n";
    write_text(d + "/vocab.txt", text);
    return d;
  }();
  return dir;
}

std::string vocab_file() { return text_model_dir() + "/vocab.txt"; }

void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void expect_names(const std::exception& e, const std::string& where) {
  std::string message = e.what();
  expect(message.compare(0, where.size(), where) == 0,
         "the error does not start with '" + where + "': " + message);
}

}  // namespace sherl::fuzz
