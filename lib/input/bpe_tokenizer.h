#pragma once
// Byte-level BPE tokenizers (byte_level_bpe.h) as each family configures them:
//   - CLIP, from vocab.json + merges.txt: CLIP's cleaning (bpe_pretokenizer.h), its pattern,
//     "</w>" at word ends, <|startoftext|> text <|endoftext|>;
//   - a Hugging Face tokenizer.json of a BPE model (Llama 3, Qwen2, GPT-2 style): its
//     normalizer (none or NFC), its pre-tokenizer (ByteLevel, or a Split by one of the
//     families' patterns then ByteLevel), its added tokens, and the special tokens its
//     post-processor adds (TemplateProcessing, e.g. Llama 3's <|begin_of_text|>).
// Anything else a tokenizer.json declares is refused naming the key. Added tokens written in
// the text are kept whole, as Hugging Face does. A sentence pair is one text to these models
// (joined by a template before tokenising), so encode() refuses pairs.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/input/bpe_pretokenizer.h"
#include "lib/input/byte_level_bpe.h"
#include "lib/input/tokenizer.h"

namespace sherl {

class BpeTokenizer : public Tokenizer {
 public:
  // Throw sherl::Error naming the file and key of anything unreadable or unsupported.
  static std::unique_ptr<BpeTokenizer> from_clip_files(const std::string& vocab_json, const std::string& merges_txt);
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& tokenizer_json);

  int64_t size() const override;
  // The id of a vocabulary piece (e.g. CLIP's <|endoftext|>), or -1.
  int64_t id_of(const std::string& piece) const { return model_.id_of(piece); }
  bool takes_pairs() const override { return false; }
  // The ids of `text` without the special tokens the post-processor adds. Throws on text
  // that is not UTF-8 (errors do not name the text's place: callers prefix it).
  std::vector<int64_t> tokenize(const std::string& text) const;
  void encode(const std::string& a, const std::string* b, int64_t max_length, std::vector<int64_t>& ids,
              std::vector<int64_t>& type_ids) const override;

  enum class Normalizer { None, Nfc, ClipClean };
  struct Config {
    Normalizer normalizer = Normalizer::None;
    BpePattern pattern = BpePattern::Gpt2;
    bool add_prefix_space = false;                              // GPT-2's ByteLevel option
    std::vector<std::pair<std::string, int64_t>> added_tokens;  // matched whole in the text
    std::vector<int64_t> prefix, suffix;                        // special tokens around a text
  };
  BpeTokenizer(ByteLevelBpe model, Config config);
  BpeTokenizer(const BpeTokenizer&) = delete;  // added_by_first_byte_ points into config_
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

 private:
  void tokenize_segment(const std::string& text, std::vector<int64_t>& out) const;

  ByteLevelBpe model_;
  Config config_;
  BpePreTokenizer pretokenizer_;
  std::array<std::vector<const std::pair<std::string, int64_t>*>, 256> added_by_first_byte_;
};

}  // namespace sherl
