#include "lib/input/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "lib/core/error.h"
#include "lib/core/json.h"

namespace sherl {
namespace {

uint8_t pil_luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595 + uint32_t(g) * 38470 + uint32_t(b) * 7471 + 0x8000) >> 16);
}

// ---- PIL's resampling (Pillow src/libImaging/Resample.c), bilinear and bicubic filters ----

constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coefficients {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;  // per output pixel: first input pixel, number of taps
  std::vector<int32_t> k;             // ksize fixed-point weights per output pixel
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {  // Keys' cubic with a = -0.5, as PIL's
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Span {
  int64_t first, count;
};

struct Filter {
  double support;
  double (*kernel)(double);
};

Filter filter_of(Resample r) { return r == Resample::Bicubic ? Filter{2.0, bicubic} : Filter{1.0, triangle}; }

// The weights of output pixels [span.first, span.first + span.count) of a resize from
// in_size to out_size pixels along one axis (each output pixel's weights depend on its
// index alone, so a part of the output is computed exactly as the whole would be).
Coefficients coefficients(int64_t in_size, int64_t out_size, Span span, const Filter& filter) {
  double scale = double(in_size) / double(out_size);
  double filter_scale = std::max(scale, 1.0);
  double support = filter.support * filter_scale;
  double inv_filter_scale = 1.0 / filter_scale;  // PIL multiplies by the reciprocal
  Coefficients c;
  c.ksize = int64_t(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(span.count));
  c.count.resize(size_t(span.count));
  c.k.assign(size_t(span.count * c.ksize), 0);
  std::vector<double> w(size_t(c.ksize));
  for (int64_t i = 0; i < span.count; ++i) {
    const int64_t xx = span.first + i;
    double center = (double(xx) + 0.5) * scale;
    // PIL rounds the window ends by adding 0.5 and truncating toward zero.
    int64_t xmin = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    int64_t xmax = std::min<int64_t>(int64_t(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      w[size_t(x)] = filter.kernel((double(x + xmin) - center + 0.5) * inv_filter_scale);
      total += w[size_t(x)];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      double v = total != 0.0 ? w[size_t(x)] / total : w[size_t(x)];
      double fixed = v * double(1 << kPrecisionBits);
      c.k[size_t(i * c.ksize + x)] = int32_t(v < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    c.first[size_t(i)] = xmin;
    c.count[size_t(i)] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

// One pass along x (horizontal) or y (vertical) with the given weights, one output pixel per
// weight row; the other axis is copied through.
Image8 resample_pass(const Image8& in, const Coefficients& c, bool horizontal) {
  const auto n = int64_t(c.first.size());
  Image8 out;
  out.width = horizontal ? n : in.width;
  out.height = horizontal ? in.height : n;
  out.channels = in.channels;
  out.pixels.resize(size_t(out.width * out.height * in.channels));
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t o = horizontal ? x : y;
      const int32_t* k = &c.k[size_t(o * c.ksize)];
      for (int64_t ch = 0; ch < in.channels; ++ch) {
        int64_t acc = int64_t(1) << (kPrecisionBits - 1);
        for (int64_t t = 0; t < c.count[size_t(o)]; ++t) {
          int64_t src = c.first[size_t(o)] + t;
          acc += int64_t(horizontal ? in.at(y, src, ch) : in.at(src, x, ch)) * k[t];
        }
        out.pixels[size_t((y * out.width + x) * in.channels + ch)] = clip8(acc);
      }
    }
  return out;
}

Image8 crop(const Image8& in, Span xs, Span ys) {
  Image8 out;
  out.width = xs.count;
  out.height = ys.count;
  out.channels = in.channels;
  out.pixels.resize(size_t(xs.count * ys.count * in.channels));
  for (int64_t y = 0; y < ys.count; ++y) {
    const uint8_t* row = &in.pixels[size_t(((ys.first + y) * in.width + xs.first) * in.channels)];
    std::copy(row, row + xs.count * in.channels, &out.pixels[size_t(y * xs.count * in.channels)]);
  }
  return out;
}

// The part xs x ys of the image resized to width x height as PIL resizes it, computing no
// other pixel: only the input rows the vertical pass reads go through the horizontal one (as
// PIL does), and only the output columns and rows asked for are made. An axis whose size
// does not change is not resampled (as in PIL).
Image8 resize_part(const Image8& in, int64_t width, int64_t height, Span xs, Span ys, Resample resample) {
  const Filter filter = filter_of(resample);
  Image8 img;
  Coefficients vertical;
  const bool resize_rows = height != in.height;
  if (resize_rows) {
    vertical = coefficients(in.height, height, ys, filter);
    int64_t first = in.height, end = 0;
    for (size_t i = 0; i < vertical.first.size(); ++i) {
      first = std::min(first, vertical.first[i]);
      end = std::max(end, vertical.first[i] + vertical.count[i]);
    }
    if (end <= first) first = end = 0;
    for (int64_t& f : vertical.first) f -= first;
    img = crop(in, {0, in.width}, {first, end - first});
  } else {
    img = crop(in, {0, in.width}, ys);
  }
  img = width != in.width ? resample_pass(img, coefficients(in.width, width, xs, filter), true)
                          : crop(img, xs, {0, img.height});
  return resize_rows ? resample_pass(img, vertical, false) : img;
}

// The centre `part` pixels of `size`, starting at (size - part) / 2 rounded down (Hugging
// Face's center_crop); throws (naming `where`) when the part does not fit.
Span centred(int64_t size, int64_t part, const std::string& where) {
  if (part > size)
    throw error_at(where, "image is " + std::to_string(size) + " pixels across after resizing, fewer than the "
                              "centre crop's " + std::to_string(part));
  return {(size - part) / 2, part};
}

// ---- preprocessor_config.json ----

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  // nlohmann would truncate 32.5 to 32 and read true as 1: sizes must be integers.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    if (!it->is_number_integer()) throw error_at(file, std::string("key '") + key + "' must be an integer");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw error_at(file, std::string("key '") + key + "' has the wrong type");
  }
}

// `key`'s numbers, one per channel; `fallback` (the processor's default, for 3 channels)
// when absent.
std::vector<double> per_channel(const json& j, const char* key, int64_t channels, const std::vector<double>& fallback,
                                const std::string& file) {
  auto it = j.find(key);
  std::vector<double> v;
  if (it == j.end() || it->is_null()) {
    v = fallback;
    v.resize(size_t(channels), fallback.front());
  } else if (it->is_number()) {
    v.assign(size_t(channels), it->get<double>());
  } else if (it->is_array() && it->size() == size_t(channels)) {
    for (const auto& x : *it) {
      if (!x.is_number()) throw error_at(file, std::string("'") + key + "' must hold numbers");
      v.push_back(x.get<double>());
    }
  } else {
    throw error_at(file, std::string("'") + key + "' must be a number or a list of " +
                             std::to_string(channels) + " numbers (config.json num_channels)");
  }
  return v;
}

// What Hugging Face's two image processors do differently with the same keys.
struct ProcessorDefaults {
  bool clip;  // CLIPImageProcessor: an integer size is the shortest edge
  int64_t resample;
  bool do_center_crop;
  std::vector<double> mean, std;
};

// CLIPImageProcessor when preprocessor_config.json names it (image_processor_type or, in
// older files, feature_extractor_type), or names no processor and the model is CLIP's vision
// tower; ViTImageProcessor otherwise.
ProcessorDefaults processor_defaults(const json& prep, const json& config) {
  std::string named;
  for (const char* key : {"image_processor_type", "feature_extractor_type"})
    if (prep.contains(key) && prep[key].is_string()) named = prep[key].get<std::string>();
  const bool clip = named.empty() ? config.value("model_type", json()) == "clip_vision_model" : named.rfind("CLIP", 0) == 0;
  if (clip)
    return {true, int64_t(Resample::Bicubic), true, {0.48145466, 0.4578275, 0.40821073}, {0.26862954, 0.26130258, 0.27577711}};
  return {false, int64_t(Resample::Bilinear), false, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};  // IMAGENET_STANDARD
}

// Refused beyond it, before any image is resized: a hostile size would take memory and time.
constexpr int64_t kMaxImageSide = 1 << 16;

int64_t positive_size(const json& j, const char* key, const std::string& what, const std::string& file) {
  const int64_t v = get_or<int64_t>(j, key, 0, file);
  if (v <= 0 || v > kMaxImageSide)
    throw error_at(file, what + " must be between 1 and " + std::to_string(kMaxImageSide) + ", found " + std::to_string(v));
  return v;
}

// `key` as {"height": H, "width": W} or one integer for both; 224 when absent.
void read_size(const json& prep, const char* key, const std::string& file, int64_t& height, int64_t& width) {
  auto size = prep.find(key);
  if (size == prep.end() || size->is_null()) {
    height = width = 224;
  } else if (size->is_number()) {
    height = width = positive_size(prep, key, std::string("'") + key + "'", file);
  } else if (size->is_object() && size->size() == 2 && size->contains("height") && size->contains("width")) {
    height = positive_size(*size, "height", std::string("'") + key + "' height", file);
    width = positive_size(*size, "width", std::string("'") + key + "' width", file);
  } else {
    throw error_at(file, std::string("'") + key + "' must be {\"height\": H, \"width\": W} or an integer");
  }
}

// size: {height, width}, or {shortest_edge}; an integer is the shortest edge to CLIP's
// processor and both sides to ViT's. Absent: ViT's 224 x 224, CLIP's shortest edge 224.
void read_resize(const json& prep, const ProcessorDefaults& kind, const std::string& file, ImagePreprocessor& p) {
  auto size = prep.find("size");
  const bool absent = size == prep.end() || size->is_null();
  if (size != prep.end() && size->is_object() && size->contains("shortest_edge")) {
    if (size->size() != 1) throw error_at(file, "'size' must hold shortest_edge alone, or height and width");
    p.shortest_edge = positive_size(*size, "shortest_edge", "'size' shortest_edge", file);
  } else if (kind.clip && absent) {
    p.shortest_edge = 224;
  } else if (kind.clip && size->is_number()) {
    p.shortest_edge = positive_size(prep, "size", "'size'", file);
  } else {
    read_size(prep, "size", file, p.height, p.width);
  }
  const int64_t resample = get_or<int64_t>(prep, "resample", kind.resample, file);
  if (resample != int64_t(Resample::Bilinear) && resample != int64_t(Resample::Bicubic))
    throw error_at(file, "resample " + std::to_string(resample) + " is not supported (2, bilinear; 3, bicubic)");
  p.resample = Resample(resample);
}

}  // namespace

Image8 convert_channels(const Image8& in, int64_t channels, const std::string& where) {
  if (channels != 1 && channels != 3)
    throw error_at(where, "cannot convert to " + std::to_string(channels) + " channels (only 1 or 3)");
  if (in.channels < 1 || in.channels > 4)
    throw error_at(where, "image has " + std::to_string(in.channels) + " channels (expected 1 to 4)");
  if (in.channels == channels) return in;
  Image8 out;
  out.width = in.width;
  out.height = in.height;
  out.channels = channels;
  out.pixels.resize(size_t(in.width * in.height * channels));
  const bool colour = in.channels >= 3;
  for (int64_t p = 0; p < in.width * in.height; ++p) {
    const uint8_t* s = &in.pixels[size_t(p * in.channels)];
    uint8_t* d = &out.pixels[size_t(p * channels)];
    if (channels == 1) {
      d[0] = colour ? pil_luma(s[0], s[1], s[2]) : s[0];
    } else {
      for (int c = 0; c < 3; ++c) d[c] = colour ? s[c] : s[0];
    }
  }
  return out;
}

Image8 resize_pil(const Image8& in, int64_t width, int64_t height, Resample resample) {
  if (width == in.width && height == in.height) return in;  // PIL returns a copy too
  return resize_part(in, width, height, {0, width}, {0, height}, resample);
}

Image8 center_crop(const Image8& in, int64_t width, int64_t height, const std::string& where) {
  return crop(in, centred(in.width, width, where), centred(in.height, height, where));
}

std::pair<int64_t, int64_t> shortest_edge_size(int64_t width, int64_t height, int64_t shortest) {
  // Hugging Face's get_resize_output_image_size(default_to_square=False): the short side
  // becomes `shortest`, the long side int(shortest * long / short) in floating point.
  const int64_t short_side = std::min(width, height), long_side = std::max(width, height);
  const auto new_long = int64_t(double(shortest * long_side) / double(short_side));
  return width <= height ? std::make_pair(shortest, new_long) : std::make_pair(new_long, shortest);
}

ImagePreprocessor ImagePreprocessor::from_model_dir(const std::string& model_dir, Tower tower) {
  ImagePreprocessor p;
  const std::string config_file = model_dir + "/config.json";
  const std::string prep_file = model_dir + "/preprocessor_config.json";
  json config = read_tower_config(model_dir, tower);
  p.channels = get_or<int64_t>(config, "num_channels", 3, config_file);
  if (p.channels != 1 && p.channels != 3)
    throw error_at(config_file, "num_channels " + std::to_string(p.channels) + " is not supported (1 or 3)");
  p.image_size = get_or<int64_t>(config, "image_size", 224, config_file);
  json prep = read_json_file(prep_file);
  if (!prep.is_object()) throw error_at(prep_file, "not a JSON object");
  const ProcessorDefaults kind = processor_defaults(prep, config);
  p.do_resize = get_or<bool>(prep, "do_resize", true, prep_file);
  if (p.do_resize) read_resize(prep, kind, prep_file, p);
  p.do_center_crop = get_or<bool>(prep, "do_center_crop", kind.do_center_crop, prep_file);
  if (p.do_center_crop) {
    read_size(prep, "crop_size", prep_file, p.crop_height, p.crop_width);
    if (p.do_resize && p.shortest_edge > 0 && std::min(p.crop_height, p.crop_width) > p.shortest_edge)
      throw error_at(prep_file, "'crop_size' is larger than 'size' shortest_edge " + std::to_string(p.shortest_edge));
  } else if (p.do_resize && p.shortest_edge > 0) {
    throw error_at(prep_file, "'size' shortest_edge without do_center_crop gives images of varying sizes");
  }
  // Checked here, before any image is resized to it (a hostile size would take memory and
  // time first).
  const int64_t out_height = p.do_center_crop ? p.crop_height : p.height;
  const int64_t out_width = p.do_center_crop ? p.crop_width : p.width;
  if ((p.do_resize || p.do_center_crop) && (out_height != p.image_size || out_width != p.image_size))
    throw error_at(prep_file, std::string(p.do_center_crop ? "'crop_size' " : "'size' ") + std::to_string(out_width) +
                                  "x" + std::to_string(out_height) + " is not the model's image_size " +
                                  std::to_string(p.image_size) + " (" + config_file + ")");
  p.do_rescale = get_or<bool>(prep, "do_rescale", true, prep_file);
  p.rescale_factor = get_or<double>(prep, "rescale_factor", 1.0 / 255.0, prep_file);
  p.do_normalize = get_or<bool>(prep, "do_normalize", true, prep_file);
  p.mean = per_channel(prep, "image_mean", p.channels, kind.mean, prep_file);
  p.std = per_channel(prep, "image_std", p.channels, kind.std, prep_file);
  for (double s : p.std)
    if (p.do_normalize && s == 0.0) throw error_at(prep_file, "'image_std' has a zero");
  return p;
}

torch::Tensor ImagePreprocessor::operator()(const Image8& image, const std::string& where) const {
  Image8 img = convert_channels(image, channels, where);
  int64_t w = img.width, h = img.height;  // after resizing
  if (do_resize && shortest_edge > 0) std::tie(w, h) = shortest_edge_size(img.width, img.height, shortest_edge);
  else if (do_resize) w = width, h = height;
  // Only what the crop keeps is resized: a long thin image costs no more than a square one.
  const Span xs = do_center_crop ? centred(w, crop_width, where) : Span{0, w};
  const Span ys = do_center_crop ? centred(h, crop_height, where) : Span{0, h};
  img = do_resize ? resize_part(img, w, h, xs, ys, resample) : crop(img, xs, ys);
  if (img.height != image_size || img.width != image_size)
    throw error_at(where, "image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                              " after preprocessing but the model takes " + std::to_string(image_size) + "x" +
                              std::to_string(image_size) + " (config.json image_size)");
  torch::Tensor out = torch::empty({channels, img.height, img.width}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < img.height; ++y)
      for (int64_t x = 0; x < img.width; ++x) {
        double v = img.at(y, x, c);
        if (do_rescale) v *= rescale_factor;
        if (do_normalize) v = (v - mean[size_t(c)]) / std[size_t(c)];
        *o++ = float(v);
      }
  return out;
}

}  // namespace sherl
