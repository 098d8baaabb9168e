#pragma once
// Image preprocessing with Hugging Face ViTImageProcessor / CLIPImageProcessor semantics,
// read from a model directory: channel conversion to config.json's num_channels, optional
// bilinear or bicubic resize (to a size, or the shortest edge to a length), optional centre
// crop, rescale, per-channel normalisation, output [C, H, W] float32.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "lib/core/types.h"
#include "lib/input/image_decode.h"

namespace sherl {

// Converts to 1 (grey) or 3 (RGB) channels as PIL's convert() does: RGB(A) -> grey with
// PIL's fixed-point ITU-R 601 luma, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (that is
// R*299/1000 + G*587/1000 + B*114/1000, rounded); grey -> RGB by replication; alpha is
// dropped, never composited (as convert('RGB') / convert('L') do).
Image8 convert_channels(const Image8& in, int64_t channels, const std::string& where);

// PIL's resampling filters, numbered as PIL numbers them (preprocessor_config.json's resample).
enum class Resample { Bilinear = 2, Bicubic = 3 };

// Resize exactly as PIL's Image.resize(..., BILINEAR or BICUBIC) computes it for 8-bit
// images: a triangle (support 1) or Keys cubic (a = -0.5, support 2) filter widened by the
// scale factor when shrinking (so it antialiases), pixel centres aligned, 22-bit fixed-point
// coefficients, a horizontal pass rounded to 8 bits and then a vertical pass. (HF resizes
// through PIL for uint8 input.)
Image8 resize_pil(const Image8& in, int64_t width, int64_t height, Resample resample = Resample::Bilinear);

// The centre width x height of the image, its top-left corner at ((W - width) / 2,
// (H - height) / 2) rounded down, as Hugging Face's center_crop; throws (naming `where`) for
// an image smaller than the crop.
Image8 center_crop(const Image8& in, int64_t width, int64_t height, const std::string& where);

// The (width, height) that Hugging Face resizes a width x height image to when its processor
// gives size {"shortest_edge": shortest}: the short side `shortest`, the long side
// int(shortest * long / short).
std::pair<int64_t, int64_t> shortest_edge_size(int64_t width, int64_t height, int64_t shortest);

struct ImagePreprocessor {
  int64_t channels = 3;       // config.json num_channels
  int64_t image_size = 224;   // config.json image_size: what the model accepts
  bool do_resize = true;
  int64_t height = 224, width = 224;  // size {height, width}, or
  int64_t shortest_edge = 0;          // size {shortest_edge} (CLIP) when positive
  Resample resample = Resample::Bilinear;
  bool do_center_crop = false;        // CLIP: then crop_size
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> mean, std;  // one per channel

  // Reads config.json and preprocessor_config.json from model_dir, as CLIPImageProcessor reads
  // it when the file names that processor (image_processor_type, feature_extractor_type) or
  // names none and the model is CLIP's vision tower: its defaults (shortest edge 224,
  // bicubic, centre crop 224, CLIP's mean and std) and an integer size as the shortest edge;
  // as ViTImageProcessor otherwise. Throws sherl::Error naming the file and key for a missing
  // file or an unsupported setting; sizes beyond 65536 are refused.
  // `tower`: a CLIPModel's vision tower reads vision_config (types.h).
  static ImagePreprocessor from_model_dir(const std::string& model_dir, Tower tower = Tower::Whole);

  // Channels -> resize -> centre crop (only the part the crop keeps is resized, so a long,
  // thin image costs no more than a square one) -> pixel = float32((u8 * rescale_factor - mean[c]) / std[c]),
  // computed in double. Throws (naming `where`) when the result does not have the
  // model's image_size.
  torch::Tensor operator()(const Image8& image, const std::string& where) const;
};

}  // namespace sherl
