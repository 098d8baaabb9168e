#include "lib/input/text_encoding.h"

#include <sys/stat.h>

#include <algorithm>

#include "lib/core/error.h"
#include "lib/input/basic_tokenizer.h"  // is_utf8
#include "lib/input/bpe_tokenizer.h"
#include "lib/input/sentencepiece_tokenizer.h"
#include "lib/input/wordpiece.h"

namespace sherl {
namespace {

// Whether `path` is a regular file; something else under that name (a directory, a FIFO) is
// an error rather than "no such file".
bool file_exists(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) throw error_at(path, "not a regular file");
  return true;
}

int64_t int_key(const json& j, const char* key, int64_t fallback, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) throw error_at(file, std::string("key '") + key + "' must be an integer");
  return it->get<int64_t>();
}

bool bool_key(const json& j, const char* key, bool fallback, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw error_at(file, std::string("key '") + key + "' must be true or false");
  return it->get<bool>();
}

bool names_cased_model(const json& config) {
  auto it = config.find("_name_or_path");
  if (it == config.end() || !it->is_string()) return false;
  std::string name = it->get<std::string>();
  return name.find("-cased") != std::string::npos;
}

BasicTokenizerOptions tokenizer_options(const std::string& model_dir, const json& config) {
  BasicTokenizerOptions o;
  o.lower_case = !names_cased_model(config);
  const std::string file = model_dir + "/tokenizer_config.json";
  if (file_exists(file)) {
    json tc = read_json_file(file);
    o.lower_case = bool_key(tc, "do_lower_case", true, file);
    o.split_cjk = bool_key(tc, "tokenize_chinese_chars", true, file);
    o.strip_accents = bool_key(tc, "strip_accents", o.lower_case, file);
  } else {
    o.strip_accents = o.lower_case;
  }
  return o;
}

// A JSON value as a token id, or an error naming the field and index.
int64_t token_value(const json& v, const char* field, size_t i, int64_t bound, const char* bound_name,
                    const std::string& where) {
  std::string at = std::string(field) + "[" + std::to_string(i) + "]";
  if (!v.is_number_integer()) throw error_at(where, at + " is not an integer");
  int64_t x = v.get<int64_t>();
  if (x < 0 || x >= bound)
    throw error_at(where, at + " = " + std::to_string(x) + " is out of range (config.json " + bound_name + " " +
                              std::to_string(bound) + ")");
  return x;
}

// `text_template` with {a} and {b} replaced by the texts (b may be null: then the template
// may not use it, and a pair's template must).
std::string fill_template(const std::string& text_template, const std::string& a, const std::string* b) {
  const bool uses_b = text_template.find("{b}") != std::string::npos;
  if (b && !uses_b) throw Error("--template '" + text_template + "': has no {b} for the second text column");
  if (!b && uses_b) throw Error("--template '" + text_template + "': uses {b}, but there is one text column");
  std::string out;
  for (size_t i = 0; i < text_template.size();) {
    if (text_template.compare(i, 3, "{a}") == 0) {
      out += a;
      i += 3;
    } else if (b && text_template.compare(i, 3, "{b}") == 0) {
      out += *b;
      i += 3;
    } else {
      out += text_template[i++];
    }
  }
  return out;
}

// The tokens a query may see where the model limits it (Mistral's sliding window, Qwen2's
// when use_sliding_window is set), else `positions`.
int64_t window_limit(const json& config, const std::string& type, int64_t positions, const std::string& file) {
  const bool windowed = type == "mistral" || (type == "qwen2" && bool_key(config, "use_sliding_window", false, file));
  const int64_t window = windowed ? int_key(config, "sliding_window", 0, file) : 0;
  return window > 0 ? std::min(window, positions) : positions;
}

// The tokens a text may have: max_position_embeddings (with each family's default; RoBERTa's
// positions start after the padding index, so two are not usable), or a smaller sliding
// window; `limit` names which.
int64_t usable_positions(const json& config, const std::string& type, const std::string& file, const char*& limit) {
  const BackboneFamily family = backbone_family(type);
  int64_t positions = int_key(config, "max_position_embeddings", family == BackboneFamily::ClipText ? 77 : 512, file) -
                      (type == "roberta" ? 2 : 0);
  limit = family == BackboneFamily::T5 ? "T5's default" : "max_position_embeddings";
  if (const int64_t window = window_limit(config, type, positions, file); window < positions) {
    positions = window;
    limit = "sliding_window";
  }
  return positions;
}

// A Llama's <s>, unless tokenizer_config.json turns it off (add_bos_token: false).
SpecialTokens llama_specials(const std::string& model_dir) {
  const std::string file = model_dir + "/tokenizer_config.json";
  if (file_exists(file) && !bool_key(read_json_file(file), "add_bos_token", true, file)) return SpecialTokens::None;
  return SpecialTokens::PrependBos;
}

}  // namespace

TextEncoder::TextEncoder(const std::string& model_dir, int64_t max_length, std::string text_template, Tower tower)
    : model_dir_(model_dir), max_length_(max_length), template_(std::move(text_template)) {
  if (!is_utf8(template_)) throw Error("--template: not valid UTF-8");
  if (!template_.empty() && template_.find("{a}") == std::string::npos)
    throw Error("--template '" + template_ + "': has no {a} for the (first) text column");
  const std::string config_file = model_dir + "/config.json";
  json config = read_tower_config(model_dir, tower);
  auto type_it = config.find("model_type");
  std::string type = type_it != config.end() && type_it->is_string() ? type_it->get<std::string>() : "";
  const BackboneFamily family = backbone_family(type);
  const bool t5 = family == BackboneFamily::T5, decoder = family == BackboneFamily::Decoder,
             clip = family == BackboneFamily::ClipText;
  vocab_size_ = int_key(config, "vocab_size", clip ? 49408 : 0, config_file);  // CLIPTextConfig's default
  if (vocab_size_ <= 0) throw error_at(config_file, "missing or invalid 'vocab_size'");
  // T5, the decoders and CLIP have no token types: pre-tokenised ids may not mark a second segment.
  type_vocab_size_ = t5 || decoder || clip ? 1 : int_key(config, "type_vocab_size", 2, config_file);
  // CLIPTextConfig's default eos_token_id; 2 (older configs) makes Hugging Face pool at the
  // largest id instead.
  clip_text_ = clip;
  if (clip) clip_eos_token_id_ = int_key(config, "eos_token_id", 49407, config_file);
  const char* limit = "";
  const int64_t positions = usable_positions(config, type, config_file, limit);
  if (max_length == 0) max_length_ = max_length = std::min(kDefaultMaxLength, positions);
  if (max_length < 2 || max_length > positions)
    throw error_at(config_file, "max_length " + std::to_string(max_length) + " must be between 2 and " +
                                    std::to_string(positions) + " (" + limit + ")");
  const std::string vocab_file = model_dir + "/vocab.txt", spiece_file = model_dir + "/spiece.model",
                    llama_file = model_dir + "/tokenizer.model", bpe_file = model_dir + "/tokenizer.json";
  std::string tokenizer_file;
  // Each family's own tokenizer; WordPiece for the BERT family only.
  if (t5) {
    if (file_exists(spiece_file))
      tokenizer_ = std::make_unique<SentencePieceTokenizer>(spiece_file, SpecialTokens::AppendEos);
    tokenizer_file = spiece_file;
  } else if (decoder) {
    // Llama 2 and Mistral ship a SentencePiece model (their tokenizer.json, if any, is the
    // same model as a byte-fallback BPE); Llama 3 and Qwen2 a byte-level BPE tokenizer.json.
    if ((type == "llama" || type == "mistral") && file_exists(llama_file)) {
      tokenizer_ = std::make_unique<SentencePieceTokenizer>(llama_file, llama_specials(model_dir));
      tokenizer_file = llama_file;
    } else if (file_exists(bpe_file)) {
      tokenizer_ = BpeTokenizer::from_tokenizer_json(bpe_file);
      tokenizer_file = bpe_file;
    }
  } else if (clip) {
    const std::string vocab_json = model_dir + "/vocab.json", merges = model_dir + "/merges.txt";
    if (file_exists(vocab_json) && file_exists(merges)) {
      auto bpe = BpeTokenizer::from_clip_files(vocab_json, merges);
      // Every text would otherwise be refused, one by one, as pooled at the wrong token.
      const int64_t end_of_text = bpe->id_of("<|endoftext|>");
      if (clip_eos_token_id_ != 2 && clip_eos_token_id_ != end_of_text)
        throw error_at(config_file, "key 'eos_token_id': " + std::to_string(clip_eos_token_id_) + " is not " + vocab_json +
                                        "'s <|endoftext|> (" + std::to_string(end_of_text) + ")");
      tokenizer_ = std::move(bpe);
    }
    tokenizer_file = vocab_json;
  } else if (file_exists(vocab_file)) {
    tokenizer_ = std::make_unique<WordPieceTokenizer>(vocab_file, tokenizer_options(model_dir, config));
    tokenizer_file = vocab_file;
  }
  if (tokenizer_ && tokenizer_->size() > vocab_size_)
    throw error_at(tokenizer_file, std::to_string(tokenizer_->size()) + " tokens, more than config.json's vocab_size " +
                                       std::to_string(vocab_size_) + ": not this model's tokenizer");
  if (tokenizer_) {  // max_length must leave room for a token beside the special ones
    std::vector<int64_t> ids, types;
    try {
      tokenizer_->encode("", nullptr, max_length_, ids, types);
    } catch (const Error& e) {
      throw error_at(tokenizer_file, e);
    }
  }
}

int64_t resolved_max_length(const InputSpec& spec) {
  if (spec.max_length != 0 || spec.model_dir.empty()) return spec.max_length;
  const json config = read_tower_config(spec.model_dir, spec.tower);
  auto it = config.find("model_type");
  const std::string type = it != config.end() && it->is_string() ? it->get<std::string>() : "";
  const char* limit = "";
  return std::min(kDefaultMaxLength, usable_positions(config, type, spec.model_dir + "/config.json", limit));
}

void TextEncoder::require_tokenizer(const std::string& where) const {
  if (!tokenizer_)
    throw error_at(where, "the model (" + model_dir_ +
                              ") has no tokenizer that sherl reads (vocab.txt; spiece.model for T5; "
                              "tokenizer.model for Llama 2 and Mistral; tokenizer.json for Llama 3 and Qwen2; "
                              "vocab.json and merges.txt for CLIP): give pre-tokenised input as JSON Lines "
                              "with an 'input_ids' field");
}

void TextEncoder::encode_text(const std::string& a, const std::string* b, const std::string& where,
                              RawExample& out) const {
  require_tokenizer(where);
  if (b && clip_text_ && template_.empty())
    throw error_at(where, "CLIP's text tower takes one text: give one text column, or join two with --template");
  try {
    if (!template_.empty() || (b && !tokenizer_->takes_pairs())) {
      tokenizer_->encode(fill_template(template_.empty() ? kPairTemplate : template_, a, b), nullptr, max_length_,
                         out.input_ids, out.token_type_ids);
    } else {
      if (b && max_length_ < 3)
        throw Error("max_length " + std::to_string(max_length_) + " is too short for sentence pairs");
      tokenizer_->encode(a, b, max_length_, out.input_ids, out.token_type_ids);
    }
  } catch (const Error& e) {
    throw error_at(where, e);
  }
  check_encoded(out.input_ids, where);
}

void TextEncoder::check_encoded(const std::vector<int64_t>& ids, const std::string& where) const {
  // Every backbone pools at (or over) some token: without one a batch could not be made.
  if (ids.empty()) throw error_at(where, "the example has no tokens (an empty text)");
  if (!clip_text_) return;
  // Hugging Face's choice: the largest id when eos_token_id is 2, else the first end-of-text
  // (position 0 when there is none).
  size_t pooled = 0;
  if (clip_eos_token_id_ == 2) {
    pooled = size_t(std::max_element(ids.begin(), ids.end()) - ids.begin());
  } else {
    pooled = size_t(std::find(ids.begin(), ids.end(), clip_eos_token_id_) - ids.begin());
    if (pooled == ids.size()) pooled = 0;
  }
  if (pooled + 1 != ids.size())
    throw error_at(where, "CLIP pools at token " + std::to_string(pooled) + " of " + std::to_string(ids.size()) +
                              " (its end-of-text token, as Hugging Face picks it), which must be the last: remove "
                              "text after <|endoftext|> or end the ids with it");
}

void TextEncoder::encode_ids(const json& input_ids, const json* token_type_ids, const std::string& where,
                             RawExample& out) const {
  if (!input_ids.is_array() || input_ids.empty())
    throw error_at(where, "'input_ids' must be a non-empty list of token ids");
  if (int64_t(input_ids.size()) > max_length_)
    throw error_at(where, "'input_ids' has " + std::to_string(input_ids.size()) + " tokens, more than max_length " +
                              std::to_string(max_length_));
  out.input_ids.clear();
  for (size_t i = 0; i < input_ids.size(); ++i)
    out.input_ids.push_back(token_value(input_ids[i], "input_ids", i, vocab_size_, "vocab_size", where));
  check_encoded(out.input_ids, where);
  out.token_type_ids.assign(out.input_ids.size(), 0);
  if (!token_type_ids || token_type_ids->is_null()) return;
  if (!token_type_ids->is_array() || token_type_ids->size() != input_ids.size())
    throw error_at(where, "'token_type_ids' must be a list as long as 'input_ids'");
  for (size_t i = 0; i < token_type_ids->size(); ++i) {
    const json& v = (*token_type_ids)[i];
    if (type_vocab_size_ == 1 && v.is_number_integer() && v.get<int64_t>() != 0)  // T5, the decoders
      throw error_at(where, "token_type_ids[" + std::to_string(i) + "] = " + v.dump() +
                                ": the model has no token types (give a pair as one text)");
    out.token_type_ids[i] = token_value(v, "token_type_ids", i, type_vocab_size_, "type_vocab_size", where);
  }
}

}  // namespace sherl
