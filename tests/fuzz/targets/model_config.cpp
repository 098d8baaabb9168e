// A model directory's config.json, as the backbones (ModelConfig, read_encoder_config) and
// the text inputs (TextEncoder) read it.
#include "lib/core/error.h"
#include "lib/input/text_encoding.h"
#include "lib/model/model_config.h"
#include "tests/fuzz/fuzz_targets.h"

namespace sherl::fuzz {

int model_config(const uint8_t* data, size_t size) {
  const std::string dir = scratch_subdir("model_config");
  const std::string path = write_input(dir + "/config.json", data, size);
  try {
    ModelConfig config(dir);
    EncoderConfig c = read_encoder_config(config);
    expect(c.hidden_size > 0 && c.num_heads > 0 && c.hidden_size % c.num_heads == 0 && c.layer_norm_eps > 0,
           "read_encoder_config accepted an inconsistent config");
    // Keys the backbones read with defaults.
    config.get_int("max_position_embeddings", 512);
    config.get_int("image_size", 224);
    config.get_double("hidden_dropout_prob", 0.1);
    config.get_bool("qkv_bias", true);
    config.get_string("position_embedding_type", "absolute");
  } catch (const Error& e) {
    expect_names(e, path);
  }
  try {
    TextEncoder encoder(dir, 128);
    expect(!encoder.can_tokenize(), "a tokenizer without vocab.txt");
  } catch (const Error& e) {
    expect_names(e, path);
  }
  return 0;
}

}  // namespace sherl::fuzz
