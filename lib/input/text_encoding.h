#pragma once
// Text to model token ids for a model directory: WordPiece tokenisation when the model has
// a vocab.txt (BERT), SentencePiece when a T5 has its spiece.model or a Llama 2 or Mistral
// its tokenizer.model, byte-level BPE when a Llama 3 or Qwen2 has its tokenizer.json or CLIP
// its vocab.json and merges.txt, and validation of
// pre-tokenised `input_ids` / `token_type_ids` (required for models without a tokenizer
// sherl reads, e.g. RoBERTa; accepted for every text model).
#include <memory>
#include <string>
#include <vector>

#include "lib/core/json.h"
#include "lib/input/source.h"
#include "lib/input/tokenizer.h"

namespace sherl {

// spec.max_length, or what 0 stands for with spec's model (source.h): what extraction
// records, so that the same input and model give the same record however it was asked for.
int64_t resolved_max_length(const InputSpec& spec);

class TextEncoder {
 public:
  // Reads config.json (vocab_size, type_vocab_size, max_position_embeddings), and when
  // present vocab.txt and tokenizer_config.json (do_lower_case, strip_accents,
  // tokenize_chinese_chars; do_lower_case defaults to true, BertTokenizer's default, unless
  // config.json's _name_or_path names a "-cased" model), or a SentencePiece model.
  // `text_template` joins the text columns into one text before tokenising ("{a}", "{b}");
  // "" keeps pairs as pairs where the tokenizer takes them, and otherwise joins them with
  // kPairTemplate.
  // `tower`: a CLIPModel's text tower reads text_config (types.h). max_length 0: the default
  // (source.h).
  TextEncoder(const std::string& model_dir, int64_t max_length, std::string text_template = "",
              Tower tower = Tower::Whole);
  static constexpr const char* kPairTemplate = "sentence1: {a} sentence2: {b}";

  bool can_tokenize() const { return tokenizer_ != nullptr; }
  // Throws "<where>: ... needs pre-tokenised input_ids" when the model has no tokenizer.
  void require_tokenizer(const std::string& where) const;

  // Tokenises one text or a pair (b may be null) into out.input_ids / out.token_type_ids;
  // errors name `where` (file:line).
  void encode_text(const std::string& a, const std::string* b, const std::string& where, RawExample& out) const;

  // Copies pre-tokenised ids after checking them: integers in [0, vocab_size), at most
  // max_length of them; token_type_ids (optional; zeros when absent) of the same length in
  // [0, type_vocab_size). Errors name `where` (file:line) and the offending index.
  // CLIP's text tower: both refuse ids whose end-of-text token (the one Hugging Face pools
  // at) is not the last, since the tower pools the last token.
  void encode_ids(const json& input_ids, const json* token_type_ids, const std::string& where,
                  RawExample& out) const;

 private:
  std::string model_dir_;
  int64_t max_length_;
  std::string template_;
  int64_t vocab_size_ = 0, type_vocab_size_ = 2;
  bool clip_text_ = false;          // CLIP's text tower: the pooled token is checked
  int64_t clip_eos_token_id_ = 0;   // its eos_token_id
  // Refuses, naming `where`, an example without tokens and (CLIP) one not pooled at its end.
  void check_encoded(const std::vector<int64_t>& ids, const std::string& where) const;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace sherl
