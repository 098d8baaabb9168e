#include "lib/input/sentencepiece_tokenizer.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "lib/core/error.h"
#include "lib/input/basic_tokenizer.h"  // is_utf8
#include "lib/input/plugin/sentencepiece_api.h"

namespace sherl {
namespace {

// Why a plugin: Debian's libsentencepiece carries its own copy of protobuf-lite (3.14), with
// its symbols exported, and Debian's LibTorch loads libprotobuf (3.21). Linked into one
// process, whichever comes first serves every protobuf call: sentencepiece's copy crashes
// libprotobuf's start-up, and libprotobuf refuses sentencepiece's generated code (a version
// check). Loaded with RTLD_LOCAL | RTLD_DEEPBIND, the plugin and libsentencepiece resolve
// their symbols to their own copy first and add none to the process's.
struct Plugin {
  sherl_spm_open_fn open = nullptr;
  sherl_spm_close_fn close = nullptr;
  sherl_spm_piece_size_fn piece_size = nullptr;
  sherl_spm_eos_id_fn eos_id = nullptr;
  sherl_spm_bos_id_fn bos_id = nullptr;
  sherl_spm_encode_fn encode = nullptr;
};

// The plugin in the build tree (tools run from there), else where `make install` puts it.
std::string plugin_path() {
  std::error_code ec;
  if (std::filesystem::exists(SHERL_SENTENCEPIECE_PLUGIN_BUILD, ec)) return SHERL_SENTENCEPIECE_PLUGIN_BUILD;
  return SHERL_SENTENCEPIECE_PLUGIN_INSTALL;
}

template <typename F>
void bind(void* library, const char* name, F& f, const std::string& path) {
  f = reinterpret_cast<F>(::dlsym(library, name));
  if (!f) throw error_at(path, std::string("no function ") + name + ": not sherl's SentencePiece plugin");
}

const Plugin& plugin() {
  static Plugin loaded;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = plugin_path();
#if defined(SHERL_SANITIZED)
    const int deep_bind = 0;  // the sanitizers' runtime refuses RTLD_DEEPBIND
#else
    const int deep_bind = RTLD_DEEPBIND;
#endif
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | deep_bind);
    if (!library)
      throw error_at(path, std::string("cannot load the SentencePiece plugin (") + ::dlerror() +
                               "); SentencePiece models (T5, Llama 2, Mistral) need it: is sherl fully built or installed?");
    Plugin p;
    bind(library, "sherl_spm_open", p.open, path);
    bind(library, "sherl_spm_close", p.close, path);
    bind(library, "sherl_spm_piece_size", p.piece_size, path);
    bind(library, "sherl_spm_eos_id", p.eos_id, path);
    bind(library, "sherl_spm_bos_id", p.bos_id, path);
    bind(library, "sherl_spm_encode", p.encode, path);
    loaded = p;  // the library stays loaded for the process's life
  });
  return loaded;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_file, SpecialTokens specials)
    : file_(model_file), specials_(specials) {
  char error[512] = "";
  model_ = plugin().open(model_file.c_str(), error, sizeof error);
  if (!model_) throw error_at(model_file, std::string("not a SentencePiece model (") + error + ")");
  if (specials == SpecialTokens::None) return;
  special_id_ = specials == SpecialTokens::AppendEos ? plugin().eos_id(model_) : plugin().bos_id(model_);
  if (special_id_ < 0) {
    plugin().close(model_);
    throw error_at(model_file, std::string("the model has no ") + (specials == SpecialTokens::AppendEos ? "</s>" : "<s>") +
                                   " token, which this model family adds to every text");
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() { plugin().close(model_); }

int64_t SentencePieceTokenizer::size() const { return plugin().piece_size(model_); }

std::vector<int64_t> SentencePieceTokenizer::tokenize(const std::string& text) const {
  // Refused rather than tokenised: SentencePiece would turn the bytes into something else.
  if (!is_utf8(text)) throw Error("the text is not valid UTF-8");
  std::vector<int> pieces(text.size() + 2);  // a piece covers at least one byte, and a prefix
  size_t count = 0;
  char error[512] = "";
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (plugin().encode(model_, text.data(), text.size(), pieces.data(), pieces.size(), &count, error, sizeof error) != 0)
      throw Error(file_ + " cannot tokenise the text (" + error + ")");
    if (count <= pieces.size()) break;
    pieces.resize(count);
  }
  return std::vector<int64_t>(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(count));
}

void SentencePieceTokenizer::encode(const std::string& a, const std::string* b, int64_t max_length,
                                    std::vector<int64_t>& ids, std::vector<int64_t>& type_ids) const {
  if (b) throw Error("this model takes a sentence pair as one text: join the pair with a template");
  if (max_length < 2) throw Error("max_length " + std::to_string(max_length) + " leaves no room for the text");
  std::vector<int64_t> pieces = tokenize(a);
  const int64_t room = specials_ == SpecialTokens::None ? max_length : max_length - 1;
  if (static_cast<int64_t>(pieces.size()) > room) pieces.resize(static_cast<size_t>(room));
  ids.clear();
  if (specials_ == SpecialTokens::PrependBos) ids.push_back(special_id_);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (specials_ == SpecialTokens::AppendEos) ids.push_back(special_id_);
  type_ids.assign(ids.size(), 0);
}

}  // namespace sherl
