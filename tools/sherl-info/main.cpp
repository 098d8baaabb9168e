// sherl-info: describes feature shards and shard sets, and verifies them.
//
//   sherl-info [--json] [--verify] SHARD_OR_DIR...
//
// Exit status: 0 ok, 1 error or verification failure, 2 usage error.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/cli.h"
#include "lib/core/process.h"
#include "lib/core/version.h"
#include "lib/shard/format.h"
#include "lib/shard/shard_info.h"

namespace {

namespace fs = std::filesystem;

// What sherl-info reports about one shard or shard set.
struct Summary {
  std::string path, kind;  // "shard" or "shard-set"
  sherl::ShardSetInfo info;
  int64_t shard_index = -1;  // single shards only
  int64_t shards = 0, examples = 0, tokens = 0, min_tokens = 0, max_tokens = 0;
  int64_t bytes_on_disk = 0, raw_feature_bytes = 0;
};

void add_shard(Summary& s, const sherl::ShardFile& r) {
  for (int64_t i = 0; i < r.size(); ++i) {
    int64_t t = r.num_tokens(i);
    s.min_tokens = s.examples == 0 ? t : std::min(s.min_tokens, t);
    s.max_tokens = std::max(s.max_tokens, t);
    s.tokens += t;
    ++s.examples;
  }
  ++s.shards;
  s.bytes_on_disk += static_cast<int64_t>(fs::file_size(r.path()));
}

Summary summarize(const std::string& path) {
  Summary s;
  s.path = path;
  if (fs::is_directory(path)) {
    s.kind = "shard-set";
    sherl::Manifest manifest = sherl::read_manifest(path);
    s.info = manifest.info;
    for (const auto& shard : sherl::open_shard_files(path, manifest)) add_shard(s, shard);
  } else {
    s.kind = "shard";
    sherl::ShardFile reader(path);
    s.info = reader.info();
    s.shard_index = reader.shard_index();
    add_shard(s, reader);
  }
  s.raw_feature_bytes =
      s.tokens * sherl::row_bytes(s.info.dtype, static_cast<int64_t>(s.info.tiers.size()), s.info.backbone.hidden_size);
  return s;
}

double ratio(const Summary& s) {
  return s.bytes_on_disk > 0 ? static_cast<double>(s.raw_feature_bytes) / s.bytes_on_disk : 0.0;
}

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + std::to_string(v[i]);
  return out;
}

std::string label_description(const sherl::ShardSetInfo& info) {
  std::string out = sherl::to_string(info.label_kind) + ", " + std::to_string(info.num_labels) +
                    (info.label_kind == sherl::LabelKind::Class ? " classes" : " values");
  for (size_t c = 0; c < info.label_names.size(); ++c) out += (c ? ", " : ": ") + info.label_names[c];
  return out;
}

void print_text(const Summary& s) {
  const auto& b = s.info.backbone;
  std::printf("%s\n", s.path.c_str());
  if (s.kind == "shard")
    std::printf("  shard          index %lld\n", static_cast<long long>(s.shard_index));
  else
    std::printf("  shard set      %lld shards\n", static_cast<long long>(s.shards));
  std::printf("  examples       %lld\n", static_cast<long long>(s.examples));
  std::printf("  tokens         %lld (per example min %lld, mean %.1f, max %lld)\n", static_cast<long long>(s.tokens),
              static_cast<long long>(s.min_tokens), s.examples ? static_cast<double>(s.tokens) / s.examples : 0.0,
              static_cast<long long>(s.max_tokens));
  std::printf("  tiers          %zu: %s (late layers %lld)\n", s.info.tiers.size(), join(s.info.tiers).c_str(),
              static_cast<long long>(s.info.late_layers));
  std::printf("  hidden size    %lld\n", static_cast<long long>(b.hidden_size));
  std::printf("  dtype          %s\n", sherl::to_string(s.info.dtype).c_str());
  std::printf("  size on disk   %s (features uncompressed %s, compression ratio %.2fx)\n",
              sherl::format_bytes(static_cast<double>(s.bytes_on_disk)).c_str(),
              sherl::format_bytes(static_cast<double>(s.raw_feature_bytes)).c_str(), ratio(s));
  std::printf("  backbone       %s, %lld layers, hidden size %lld\n", b.model_type.c_str(),
              static_cast<long long>(b.num_layers), static_cast<long long>(b.hidden_size));
  std::printf("  config sha256  %s\n", b.config_sha256.c_str());
  std::printf("  weights sha256 %s\n", b.weights_sha256.c_str());
  std::printf("  labels         %s\n", label_description(s.info).c_str());
  std::printf("  source         %s (sha256 %s)\n", s.info.source_path.c_str(), s.info.source_sha256.c_str());
  std::printf("  written by     sherl %s: %s\n", s.info.tool_version.c_str(), s.info.command_line.c_str());
}

sherl::json to_json(const Summary& s) {
  sherl::json j = {{"path", s.path},
                   {"kind", s.kind},
                   {"shards", s.shards},
                   {"examples", s.examples},
                   {"tokens", {{"total", s.tokens}, {"min", s.min_tokens}, {"max", s.max_tokens}}},
                   {"bytes_on_disk", s.bytes_on_disk},
                   {"feature_bytes_uncompressed", s.raw_feature_bytes},
                   {"compression_ratio", ratio(s)},
                   {"info", sherl::to_json(s.info)}};
  if (s.kind == "shard") j["shard_index"] = s.shard_index;
  return j;
}

// One line of JSON. Messages about a damaged file may quote its bytes, which need not be
// UTF-8: those become U+FFFD rather than an exception that would stop the tool.
std::string dump_line(const sherl::json& j) { return j.dump(-1, ' ', false, sherl::json::error_handler_t::replace); }

// Prints the verdict on `path`: problems to stderr, one line each.
bool report(const std::string& path, const std::vector<std::string>& problems, bool as_json) {
  for (const auto& p : problems) std::cerr << "sherl-info: " << p << "\n";
  if (as_json)
    std::cout << dump_line(sherl::json{{"path", path}, {"ok", problems.empty()}, {"problems", problems}}) << "\n";
  else if (problems.empty())
    std::cout << path << ": ok\n";
  std::cout.flush();
  return problems.empty();
}

// A child's exit codes for "reported: sound" and "reported: problems"; anything else (a
// signal, a sanitizer's or the C++ runtime's abort) means it died before reporting.
constexpr int kChildSound = 10, kChildProblems = 11;

// Returns true when the path is sound. Each path is checked in a child process: HDF5 1.10
// can crash on damaged metadata, and a crash must become a verdict on that file, not the
// end of the tool. (This process has no LibTorch and no threads of its own, so forking is safe.)
bool verify(const std::string& path, bool as_json) {
  std::cout.flush();
  pid_t child = ::fork();
  if (child < 0) throw sherl::Error(std::string("cannot fork to verify ") + path + ": " + std::strerror(errno));
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // stopped with the tool
    bool ok = report(path, fs::is_directory(path) ? sherl::verify_shard_set(path) : sherl::verify_shard_file(path),
                     as_json);
    std::cerr.flush();
    ::_exit(ok ? kChildSound : kChildProblems);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && (WEXITSTATUS(status) == kChildSound || WEXITSTATUS(status) == kChildProblems))
    return WEXITSTATUS(status) == kChildSound;
  if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM))
    ::raise(WTERMSIG(status));  // stopped, not crashed
  std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                        : "exit status " + std::to_string(WEXITSTATUS(status));
  return report(path, {path + ": reading it crashed the HDF5 library (" + how + "): damaged file structure"}, as_json);
}

}  // namespace

int main(int argc, char** argv) {
  sherl::prepare_process();
  bool as_json = false, check = false;
  std::vector<std::string> paths;
  CLI::App app{"Describes sherl feature shards and shard sets (formats/shard.md), or verifies them.\n"
               "A directory is a shard set (it must hold manifest.json); a file is one shard."};
  app.add_flag("--json", as_json, "machine-readable output: one JSON object per path, one per line");
  app.add_flag("--verify", check,
               "read every chunk (Fletcher32), check structure, manifest and values (no NaN/Inf); "
               "exit 1 naming file, dataset and problem");
  app.add_option("paths", paths, "shard files (.h5) or shard-set directories")->required();
  app.set_version_flag("--version", std::string("sherl-info ") + SHERL_VERSION);
  if (int status = sherl::parse_command_line(app, argc, argv); status >= 0) return status;
  return sherl::run_tool("sherl-info", [&] {
    if (check) {
      bool ok = true;
      for (const auto& p : paths) ok = verify(p, as_json) && ok;
      return ok ? 0 : 1;
    }
    for (const auto& p : paths) {
      Summary s = summarize(p);
      if (as_json) std::cout << dump_line(to_json(s)) << "\n";
      else print_text(s);
    }
    return 0;
  });
}
