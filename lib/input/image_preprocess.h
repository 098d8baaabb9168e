#pragma once
// Image preprocessing with Hugging Face ViTImageProcessor semantics, read from a model
// directory: channel conversion to config.json's num_channels, optional bilinear resize,
// rescale, per-channel normalisation, output [C, H, W] float32.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/input/image_decode.h"

namespace sherl {

// Converts to 1 (grey) or 3 (RGB) channels as PIL's convert() does: RGB(A) -> grey with
// PIL's fixed-point ITU-R 601 luma, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (that is
// R*299/1000 + G*587/1000 + B*114/1000, rounded); grey -> RGB by replication; alpha is
// dropped, never composited (as convert('RGB') / convert('L') do).
Image8 convert_channels(const Image8& in, int64_t channels, const std::string& where);

// Bilinear resize exactly as PIL's Image.resize(..., BILINEAR) computes it for 8-bit images:
// a triangle filter widened by the scale factor when shrinking (so it antialiases), pixel
// centres aligned, 22-bit fixed-point coefficients, a horizontal pass rounded to 8 bits
// and then a vertical pass. (HF resizes through PIL for uint8 input.)
Image8 resize_bilinear(const Image8& in, int64_t width, int64_t height);

struct ImagePreprocessor {
  int64_t channels = 3;       // config.json num_channels
  int64_t image_size = 224;   // config.json image_size: what the model accepts
  bool do_resize = true;
  int64_t height = 224, width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> mean, std;  // one per channel

  // Reads config.json and preprocessor_config.json from model_dir. Throws sherl::Error
  // naming the file and key for a missing file or an unsupported setting.
  static ImagePreprocessor from_model_dir(const std::string& model_dir);

  // Channels -> resize -> pixel = float32((u8 * rescale_factor - mean[c]) / std[c]),
  // computed in double. Throws (naming `where`) when the result does not have the
  // model's image_size.
  torch::Tensor operator()(const Image8& image, const std::string& where) const;
};

}  // namespace sherl
