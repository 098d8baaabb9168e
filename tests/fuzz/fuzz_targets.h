#pragma once
// The fuzz targets' entry points, shared by the libFuzzer executables (clang, tests/fuzz/run.sh)
// and by the replay test of the default suite (fuzz_replay, any compiler), which runs every
// committed corpus and regression input through them.
//
// Each entry point feeds one input to the library the way a tool would, and returns 0.
// Refusing the input with a sherl::Error whose message names the file is the expected
// outcome for bad input; anything else (another exception, a crash, a sanitizer report, a
// broken invariant, which fail() reports) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sherl::fuzz {

int safetensors(const uint8_t* data, size_t size);   // a .safetensors file
int model_config(const uint8_t* data, size_t size);  // a model directory's config.json
int idx(const uint8_t* data, size_t size);           // an IDX file, plain or gzip
int tsv(const uint8_t* data, size_t size);           // options byte + a TSV text input
int jsonl(const uint8_t* data, size_t size);         // options byte + a JSON Lines input
int wordpiece(const uint8_t* data, size_t size);     // text (a pair when it holds a tab)
int shard(const uint8_t* data, size_t size);         // a shard built from the bytes (HDF5 API)
int shard_file(const uint8_t* data, size_t size);    // a shard file as bytes (HDF5's parser too)

struct Target {
  const char* name;  // also the directory under tests/fuzz/corpus and tests/fuzz/regressions
  int (*run)(const uint8_t*, size_t);
};

inline constexpr Target kTargets[] = {
    {"safetensors", safetensors}, {"model_config", model_config}, {"idx", idx}, {"tsv", tsv},
    {"jsonl", jsonl},             {"wordpiece", wordpiece},       {"shard", shard},
    {"shard_file", shard_file},
};

// <per-process scratch directory>/<name>, created on first use; the scratch directory is
// removed at exit.
std::string scratch_subdir(const std::string& name);
// Writes the bytes to `path` (replacing it) and returns the path.
std::string write_input(const std::string& path, const uint8_t* data, size_t size);
void write_text(const std::string& path, const std::string& text);
// A small BERT-like model directory (config.json, vocab.txt) for the text targets, written
// once per process; vocab_file() is its vocab.txt.
const std::string& text_model_dir();
std::string vocab_file();

// Aborts with a message: a broken invariant is a finding.
[[noreturn]] void fail(const std::string& what);
inline void expect(bool ok, const std::string& what) {
  if (!ok) fail(what);
}
// A refusal must name the file it refuses: the message starts with `where`.
void expect_names(const std::exception& e, const std::string& where);

}  // namespace sherl::fuzz
