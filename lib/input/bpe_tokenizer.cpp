#include "lib/input/bpe_tokenizer.h"

#include <algorithm>
#include <limits>
#include <sstream>

#include "lib/core/atomic_file.h"  // read_file
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/input/basic_tokenizer.h"  // is_utf8

namespace sherl {
namespace {

const char* const kClipStart = "<|startoftext|>";
const char* const kClipEnd = "<|endoftext|>";

std::string type_of(const json& j, const std::string& key, const std::string& where) {
  if (!j.is_object()) throw error_at(where, "'" + key + "' must be an object");
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) throw error_at(where, "'" + key + "' has no 'type'");
  return it->get<std::string>();
}

bool flag(const json& j, const char* key, bool fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw error_at(where, std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

// j[key] when j is an object holding a string there, else "".
std::string string_in(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// An id that the tokenizer may emit: at least 0 and within int32 (as vocabulary ids are).
int64_t token_id(const json& id, const std::string& what, const std::string& where) {
  if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max())
    throw error_at(where, what + " has an invalid id " + id.dump());
  return id.get<int64_t>();
}

std::string optional_string(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (!it->is_string()) throw error_at(where, std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

std::unordered_map<std::string, int64_t> vocab_of(const json& j, const std::string& where) {
  if (!j.is_object()) throw error_at(where, "the vocabulary must be an object of token: id");
  std::unordered_map<std::string, int64_t> vocab;
  for (const auto& [piece, id] : j.items()) {
    if (!id.is_number_integer()) throw error_at(where, "the id of token '" + piece + "' is not an integer");
    vocab.emplace(piece, id.get<int64_t>());
  }
  return vocab;
}

// "a b" (merges.txt, older tokenizer.json) or ["a", "b"] (newer tokenizer.json).
std::pair<std::string, std::string> merge_of(const json& m, size_t i, const std::string& where) {
  const std::string at = "merge " + std::to_string(i + 1);
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  if (!m.is_string()) throw error_at(where, at + " must be \"a b\" or [\"a\", \"b\"]");
  const std::string s = m.get<std::string>();
  const size_t space = s.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos)
    throw error_at(where, at + " ('" + s + "') is not two tokens separated by one space");
  return {s.substr(0, space), s.substr(space + 1)};
}

int64_t vocab_id(const ByteLevelBpe& model, const std::string& token, const std::string& where) {
  const int64_t id = model.id_of(token);
  if (id < 0) throw error_at(where, "the vocabulary has no " + token + " token");
  return id;
}

// tokenizer.json's "model": a byte-level BPE without dropout, byte fallback or sub-word
// prefixes.
ByteLevelBpe bpe_model_of(const json& model, const std::string& where) {
  if (type_of(model, "model", where) != "BPE")
    throw error_at(where, "model type '" + model["type"].get<std::string>() + "' is not supported (only BPE)");
  if (auto d = model.find("dropout"); d != model.end() && !d->is_null() && !(d->is_number() && d->get<double>() == 0))
    throw error_at(where, "model.dropout is set: a BPE with dropout tokenises at random");
  if (flag(model, "byte_fallback", false, where))
    throw error_at(where, "model.byte_fallback is set: a SentencePiece-style BPE (as Llama 2's tokenizer.json); "
                          "use its tokenizer.model");
  if (!optional_string(model, "continuing_subword_prefix", where).empty())
    throw error_at(where, "model.continuing_subword_prefix is not supported");
  BpeModelSpec spec;
  spec.end_of_word_suffix = optional_string(model, "end_of_word_suffix", where);
  spec.ignore_merges = flag(model, "ignore_merges", false, where);
  auto vocab = model.find("vocab");
  if (vocab == model.end()) throw error_at(where, "model.vocab is missing");
  spec.vocab = vocab_of(*vocab, where);
  auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) throw error_at(where, "model.merges must be a list");
  for (size_t i = 0; i < merges->size(); ++i) spec.merges.push_back(merge_of((*merges)[i], i, where));
  return ByteLevelBpe(std::move(spec), where);
}

BpeTokenizer::Normalizer normalizer_of(const json& j, const std::string& where) {
  if (j.is_null()) return BpeTokenizer::Normalizer::None;
  const std::string type = type_of(j, "normalizer", where);
  if (type == "NFC") return BpeTokenizer::Normalizer::Nfc;
  throw error_at(where, "normalizer type '" + type + "' is not supported (supported: none, NFC)");
}

void byte_level_pre_tokenizer(const json& j, bool alone, BpeTokenizer::Config& config, const std::string& where) {
  if (flag(j, "use_regex", true, where) != alone)
    throw error_at(where, alone ? "pre_tokenizer: a ByteLevel without its regex splits nothing: not supported"
                                : "pre_tokenizer: a ByteLevel after a Split must have use_regex false");
  config.add_prefix_space = flag(j, "add_prefix_space", false, where);
  if (config.add_prefix_space && !alone)
    throw error_at(where, "pre_tokenizer: add_prefix_space after a Split is not supported");
}

// ByteLevel with its own (GPT-2) pattern, or Sequence [Split by a family's pattern, ByteLevel].
void pre_tokenizer_of(const json& j, BpeTokenizer::Config& config, const std::string& where) {
  const std::string type = j.is_null() ? "none" : type_of(j, "pre_tokenizer", where);
  if (type == "ByteLevel") {
    config.pattern = BpePattern::Gpt2;
    byte_level_pre_tokenizer(j, true, config, where);
    return;
  }
  const json* steps = type == "Sequence" && j.contains("pretokenizers") ? &j["pretokenizers"] : nullptr;
  if (!steps || !steps->is_array() || steps->size() != 2 || type_of((*steps)[0], "pretokenizers[0]", where) != "Split" ||
      type_of((*steps)[1], "pretokenizers[1]", where) != "ByteLevel")
    throw error_at(where, "pre_tokenizer of type '" + type +
                              "' is not supported (supported: ByteLevel, or a Sequence of a Split and a ByteLevel)");
  const json& split = (*steps)[0];
  const std::string pattern = split.contains("pattern") ? string_in(split["pattern"], "Regex") : "";
  if (pattern.empty()) throw error_at(where, "pre_tokenizer Split: the pattern must be a Regex");
  if (string_in(split, "behavior") != "Isolated" || flag(split, "invert", false, where))
    throw error_at(where, "pre_tokenizer Split: only behavior Isolated without invert is supported");
  config.pattern = bpe_pattern_from_text(pattern, where);
  byte_level_pre_tokenizer((*steps)[1], false, config, where);
}

void added_tokens_of(const json& j, BpeTokenizer::Config& config, const std::string& where) {
  if (j.is_null()) return;
  if (!j.is_array()) throw error_at(where, "'added_tokens' must be a list");
  for (size_t i = 0; i < j.size(); ++i) {
    const json& t = j[i];
    const std::string at = "added_tokens[" + std::to_string(i) + "]";
    if (string_in(t, "content").empty() || !t.contains("id"))
      throw error_at(where, at + " must have a non-empty 'content' and an 'id'");
    for (const char* option : {"single_word", "lstrip", "rstrip"})
      if (flag(t, option, false, where)) throw error_at(where, at + ": '" + option + "' is not supported");
    config.added_tokens.emplace_back(t["content"].get<std::string>(), token_id(t["id"], at, where));
  }
}

// The ids of the special tokens a TemplateProcessing puts before and after a single text.
void template_of(const json& j, BpeTokenizer::Config& config, const std::string& where) {
  const json* single = j.contains("single") && j["single"].is_array() ? &j["single"] : nullptr;
  if (!single) throw error_at(where, "post_processor TemplateProcessing has no 'single' template");
  const json specials = j.value("special_tokens", json::object());
  bool seen_text = false;
  for (const json& piece : *single) {
    if (piece.is_object() && piece.contains("Sequence")) {
      if (seen_text || string_in(piece["Sequence"], "id") != "A")
        throw error_at(where, "post_processor: the single template must hold the text ($A) once");
      seen_text = true;
      continue;
    }
    const std::string name = piece.is_object() && piece.contains("SpecialToken") ? string_in(piece["SpecialToken"], "id") : "";
    auto special = specials.is_object() ? specials.find(name) : specials.end();
    if (name.empty() || special == specials.end() || !special->is_object() || !special->contains("ids") ||
        !(*special)["ids"].is_array())
      throw error_at(where, "post_processor: special token '" + name + "' of the template has no ids");
    for (const json& id : (*special)["ids"])
      (seen_text ? config.suffix : config.prefix)
          .push_back(token_id(id, "post_processor: special token '" + name + "'", where));
  }
  if (!seen_text) throw error_at(where, "post_processor: the single template has no $A");
}

void post_processor_of(const json& j, BpeTokenizer::Config& config, const std::string& where) {
  if (j.is_null()) return;
  const std::string type = type_of(j, "post_processor", where);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "TemplateProcessing") return template_of(j, config, where);
  if (type == "Sequence" && j.contains("processors") && j["processors"].is_array()) {
    for (const json& p : j["processors"]) post_processor_of(p, config, where);
    return;
  }
  throw error_at(where, "post_processor of type '" + type +
                            "' is not supported (supported: ByteLevel, TemplateProcessing, a Sequence of them)");
}

}  // namespace

BpeTokenizer::BpeTokenizer(ByteLevelBpe model, Config config)
    : model_(std::move(model)), config_(std::move(config)), pretokenizer_(config_.pattern) {
  // By first byte, longest first, so that a token that starts another is not matched inside
  // it, and a byte that starts none costs one look-up.
  std::stable_sort(config_.added_tokens.begin(), config_.added_tokens.end(),
                   [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
  for (const auto& token : config_.added_tokens)
    added_by_first_byte_[static_cast<unsigned char>(token.first[0])].push_back(&token);
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_clip_files(const std::string& vocab_json,
                                                            const std::string& merges_txt) {
  BpeModelSpec spec;
  spec.vocab = vocab_of(read_json_file(vocab_json), vocab_json);
  spec.end_of_word_suffix = "</w>";
  // Lines end in \n, \r\n or a lone \r.
  std::string text = read_file(merges_txt);
  std::replace(text.begin(), text.end(), '\r', '\n');
  std::istringstream lines(text);
  std::string line;
  for (size_t n = 1; std::getline(lines, line); ++n) {
    if (line.empty() || (n == 1 && line.rfind("#version", 0) == 0)) continue;
    try {
      spec.merges.push_back(merge_of(json(line), n - 1, merges_txt));
    } catch (const Error&) {
      throw error_at(merges_txt, "line " + std::to_string(n) + " ('" + line + "') is not two tokens separated by one space");
    }
  }
  ByteLevelBpe model(std::move(spec), vocab_json + " with " + merges_txt);
  Config config;
  config.normalizer = Normalizer::ClipClean;
  config.pattern = BpePattern::Clip;
  config.prefix = {vocab_id(model, kClipStart, vocab_json)};
  config.suffix = {vocab_id(model, kClipEnd, vocab_json)};
  config.added_tokens = {{kClipStart, config.prefix[0]}, {kClipEnd, config.suffix[0]}};
  return std::make_unique<BpeTokenizer>(std::move(model), std::move(config));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const std::string& file) {
  const json j = read_json_file(file);
  if (!j.is_object() || !j.contains("model")) throw error_at(file, "not a tokenizer.json (no 'model')");
  try {
    ByteLevelBpe model = bpe_model_of(j["model"], file);
    Config config;
    config.normalizer = normalizer_of(j.value("normalizer", json()), file);
    pre_tokenizer_of(j.value("pre_tokenizer", json()), config, file);
    added_tokens_of(j.value("added_tokens", json()), config, file);
    post_processor_of(j.value("post_processor", json()), config, file);
    return std::make_unique<BpeTokenizer>(std::move(model), std::move(config));
  } catch (const json::exception& e) {  // a value of a type the checks above did not expect
    throw error_at(file, std::string("unexpected structure (") + e.what() + ")");
  }
}

int64_t BpeTokenizer::size() const {
  int64_t n = model_.size();
  for (const auto& [content, id] : config_.added_tokens) n = std::max(n, id + 1);
  for (int64_t id : config_.prefix) n = std::max(n, id + 1);
  for (int64_t id : config_.suffix) n = std::max(n, id + 1);
  return n;
}

void BpeTokenizer::tokenize_segment(const std::string& text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string normal = config_.normalizer == Normalizer::Nfc         ? nfc(text)
                       : config_.normalizer == Normalizer::ClipClean ? clip_clean(text)
                                                                      : text;
  if (config_.add_prefix_space && normal.front() != ' ') normal.insert(normal.begin(), ' ');
  for (const std::string& word : pretokenizer_.split(normal)) model_.encode_word(word, out);
}

std::vector<int64_t> BpeTokenizer::tokenize(const std::string& text) const {
  if (!is_utf8(text)) throw Error("the text is not valid UTF-8");
  // Added tokens written in the text are cut out first; the rest is tokenised between them.
  std::vector<int64_t> ids;
  size_t done = 0;
  for (size_t i = 0; i < text.size();) {
    const auto& candidates = added_by_first_byte_[static_cast<unsigned char>(text[i])];
    auto match = std::find_if(candidates.begin(), candidates.end(),
                              [&](const auto* t) { return text.compare(i, t->first.size(), t->first) == 0; });
    if (match == candidates.end()) {
      ++i;
      continue;
    }
    tokenize_segment(text.substr(done, i - done), ids);
    ids.push_back((*match)->second);
    i += (*match)->first.size();
    done = i;
  }
  tokenize_segment(text.substr(done), ids);
  return ids;
}

void BpeTokenizer::encode(const std::string& a, const std::string* b, int64_t max_length, std::vector<int64_t>& ids,
                          std::vector<int64_t>& type_ids) const {
  if (b) throw Error("this model takes a sentence pair as one text: join the pair with a template");
  const int64_t room = max_length - int64_t(config_.prefix.size() + config_.suffix.size());
  if (room < 1) throw Error("max_length " + std::to_string(max_length) + " leaves no room for the text");
  std::vector<int64_t> pieces = tokenize(a);
  if (int64_t(pieces.size()) > room) pieces.resize(size_t(room));
  ids = config_.prefix;
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  ids.insert(ids.end(), config_.suffix.begin(), config_.suffix.end());
  type_ids.assign(ids.size(), 0);
}

}  // namespace sherl
