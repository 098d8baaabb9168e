// PNG / JPEG decoding, channel conversion, PIL-exact bilinear resize, preprocessing, and the
// CSV list of image files. Expected numbers marked "PIL 9.4" were computed once with
// Pillow 9.4 (Image.convert / Image.resize(..., BILINEAR)) on the same synthetic images.
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "lib/input/image_decode.h"
#include "lib/input/image_preprocess.h"
#include "lib/core/json.h"
#include "tests/support/python_reference.h"
#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

// The synthetic pattern the PIL numbers were computed on.
Image8 pattern(int64_t w, int64_t h, int64_t c) {
  Image8 img;
  img.width = w;
  img.height = h;
  img.channels = c;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch) img.pixels.push_back(uint8_t((x * 37 + y * 91 + ch * 53 + x * y * 7) % 256));
  return img;
}

void write_png(const std::string& path, const Image8& img) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(img.width);
  image.height = png_uint_32(img.height);
  const png_uint_32 formats[] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
  image.format = formats[img.channels];
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, img.pixels.data(), 0, nullptr)) << image.message;
}

void write_jpeg(const std::string& path, const Image8& img, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = JDIMENSION(img.width);
  cinfo.image_height = JDIMENSION(img.height);
  cinfo.input_components = int(img.channels);
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(&img.pixels[size_t(cinfo.next_scanline * img.width * img.channels)]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

// A smooth image, so that JPEG at high quality reproduces it closely.
Image8 smooth(int64_t w, int64_t h, int64_t c) {
  Image8 img = pattern(w, h, c);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch)
        img.pixels[size_t((y * w + x) * c + ch)] = uint8_t(40 + 4 * x + 3 * y + 30 * ch);
  return img;
}

TEST(ImageDecode, PngRoundTripsEveryChannelLayout) {
  ScratchDir dir;
  for (int64_t c = 1; c <= 4; ++c) {
    Image8 img = pattern(7, 5, c);
    std::string path = dir / ("img" + std::to_string(c) + ".png");
    write_png(path, img);
    Image8 back = decode_image_file(path, path);
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels) << c << " channels";
  }
}

TEST(ImageDecode, JpegGreyAndRgb) {
  ScratchDir dir;
  for (int64_t c : {1, 3}) {
    Image8 img = smooth(16, 16, c);
    std::string path = dir / ("img" + std::to_string(c) + ".jpg");
    write_jpeg(path, img, 100);
    Image8 back = decode_image_file(path, path);
    ASSERT_EQ(back.channels, c);
    ASSERT_EQ(back.width, 16);
    ASSERT_EQ(back.height, 16);
    int worst = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) worst = std::max(worst, std::abs(int(back.pixels[i]) - int(img.pixels[i])));
    EXPECT_LE(worst, 3) << c << " channels";
  }
}

TEST(ImageDecode, BadFilesAreErrors) {
  ScratchDir dir;
  expect_error([&] { decode_image_file(dir / "missing.png", "missing.png"); }, {"missing.png", "cannot open"});
  write_text(dir / "text.png", "hello, not an image");
  expect_error([&] { decode_image_file(dir / "text.png", "text.png"); }, {"text.png", "not a PNG or JPEG"});
  // Truncated files: the signature is right, the data stops early.
  write_png(dir / "full.png", pattern(32, 32, 3));
  std::string png = read_file_bytes(dir / "full.png");
  write_text(dir / "cut.png", png.substr(0, png.size() / 2));
  expect_error([&] { decode_image_file(dir / "cut.png", "cut.png"); }, {"cut.png", "cannot decode PNG"});
  write_jpeg(dir / "full.jpg", smooth(64, 64, 3), 90);
  std::string jpg = read_file_bytes(dir / "full.jpg");
  write_text(dir / "cut.jpg", jpg.substr(0, jpg.size() / 2));
  expect_error([&] { decode_image_file(dir / "cut.jpg", "cut.jpg"); }, {"cut.jpg", "cannot decode JPEG"});
}

TEST(ImageConvert, RgbToGreyIsPilLuma) {
  Image8 grey = convert_channels(pattern(7, 5, 3), 1, "test");
  const std::vector<uint8_t> pil = {  // PIL 9.4: Image.fromarray(rgb).convert('L')
      43, 80, 117, 154, 191, 199, 86, 134, 178, 193, 87, 54, 98, 142, 196, 97, 71, 122,
      173, 195, 96, 60, 118, 176, 205, 113, 94, 152, 151, 187, 102, 90, 155, 191, 106};
  EXPECT_EQ(grey.channels, 1);
  EXPECT_EQ(grey.pixels, pil);
  // RGBA: the alpha channel is dropped, not composited.
  Image8 rgba = pattern(7, 5, 4);
  EXPECT_EQ(convert_channels(rgba, 1, "test").pixels, pil);
}

TEST(ImageConvert, GreyToRgbReplicates) {
  Image8 grey = pattern(3, 2, 1);
  Image8 rgb = convert_channels(grey, 3, "test");
  ASSERT_EQ(rgb.channels, 3);
  for (size_t p = 0; p < grey.pixels.size(); ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(rgb.pixels[p * 3 + c], grey.pixels[p]);
  Image8 la = pattern(3, 2, 2);
  Image8 from_la = convert_channels(la, 1, "test");
  for (size_t p = 0; p < 6; ++p) EXPECT_EQ(from_la.pixels[p], la.pixels[p * 2]);
}

TEST(ImageResize, MatchesPilBilinear) {
  // PIL 9.4: Image.fromarray(...).resize((w, h), Image.BILINEAR)
  EXPECT_EQ(resize_pil(pattern(7, 5, 1), 3, 4).pixels,
            (std::vector<uint8_t>{56, 120, 158, 147, 125, 114, 110, 142, 145, 140, 136, 168}));
  EXPECT_EQ(resize_pil(pattern(4, 3, 1), 9, 7).pixels,
            (std::vector<uint8_t>{0,   6,   23,  39,  56,  72,  88,  105, 111, 13,  19,  37,  53,  70,  87,  103,
                                  121, 127, 52,  59,  77,  95,  114, 132, 150, 168, 175, 91,  98,  118, 137, 157,
                                  177, 196, 216, 223, 130, 138, 159, 173, 146, 118, 133, 153, 161, 169, 178, 199,
                                  210, 135, 59,  69,  91,  100, 182, 191, 213, 222, 131, 39,  48,  70,  79}));
  EXPECT_EQ(resize_pil(pattern(7, 5, 3), 5, 3).pixels,
            (std::vector<uint8_t>{52,  105, 158, 101, 154, 146, 139, 122, 155, 107, 160, 148, 156, 111, 116,
                                  142, 148, 106, 125, 115, 136, 125, 132, 139, 128, 149, 139, 158, 116, 122,
                                  90,  143, 147, 165, 137, 125, 136, 142, 125, 150, 142, 130, 164, 120, 124}));
  Image8 same = pattern(4, 3, 1);
  EXPECT_EQ(resize_pil(same, 4, 3).pixels, same.pixels);
}

TEST(ImagePreprocess, RescaleNormalisePerChannel) {
  ScratchDir dir;
  std::string model = write_image_model(dir, 3, 3,
                                        R"({"do_resize": true, "size": {"height": 3, "width": 3}, "resample": 2,
                                            "do_rescale": true, "rescale_factor": 0.00392156862745098,
                                            "do_normalize": true, "image_mean": [0.485, 0.456, 0.406],
                                            "image_std": [0.229, 0.224, 0.225]})");
  ImagePreprocessor prep = ImagePreprocessor::from_model_dir(model);
  EXPECT_EQ(prep.channels, 3);
  Image8 img = pattern(7, 5, 3);
  torch::Tensor t = prep(img, "test");
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 3, 3}));
  Image8 resized = resize_pil(img, 3, 3);
  const double mean[] = {0.485, 0.456, 0.406}, std[] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x)
        EXPECT_EQ(t[c][y][x].item<float>(), float((resized.at(y, x, c) * 0.00392156862745098 - mean[c]) / std[c]));
  // A grey image for an RGB model is replicated first.
  torch::Tensor g = prep(pattern(7, 5, 1), "test");
  Image8 grey3 = resize_pil(convert_channels(pattern(7, 5, 1), 3, "test"), 3, 3);
  EXPECT_EQ(g[2][1][1].item<float>(), float((grey3.at(1, 1, 2) * 0.00392156862745098 - mean[2]) / std[2]));
}

TEST(ImagePreprocess, UnsupportedSettingsAreErrors) {
  ScratchDir dir;
  std::string model = write_image_model(dir, 1, 4, R"({"do_resize": true, "size": {"shortest_edge": 4}})");
  expect_error([&] { ImagePreprocessor::from_model_dir(model); }, {"preprocessor_config.json", "shortest_edge"});
  model = write_image_model(dir, 1, 4, R"({"do_resize": true, "size": {"height": 4, "width": 4}, "resample": 1})");
  expect_error([&] { ImagePreprocessor::from_model_dir(model); }, {"preprocessor_config.json", "resample 1"});
  // The centre crop (224 unless crop_size says) must give the model's size, and fit in the
  // resized image.
  model = write_image_model(dir, 1, 4, R"({"size": {"height": 4, "width": 4}, "do_center_crop": true})");
  expect_error([&] { ImagePreprocessor::from_model_dir(model); },
               {"preprocessor_config.json", "'crop_size' 224x224 is not the model's image_size 4"});
  model = write_image_model(dir, 1, 4, R"({"size": {"shortest_edge": 3}, "do_center_crop": true, "crop_size": 4})");
  expect_error([&] { ImagePreprocessor::from_model_dir(model); },
               {"preprocessor_config.json", "'crop_size' is larger than 'size' shortest_edge 3"});
  model = write_image_model(dir, 1, 4, R"({"do_resize": false, "image_mean": [0.5, 0.5, 0.5]})");
  expect_error([&] { ImagePreprocessor::from_model_dir(model); }, {"preprocessor_config.json", "image_mean"});
}

// Pillow itself (tests/python/image_reference.py), on random images that shrink and enlarge
// in either direction: the same bytes from both filters, and CLIP's whole pipeline (bicubic
// shortest-edge resize, centre crop, CLIP's mean and std) within float32 rounding.
TEST(ImagePreprocess, SameAsPillowForBothFiltersAndClipsPipeline) {
  const json cases = read_json_file((test::python_reference("image_reference.py") / "reference.json").string());
  ASSERT_GE(cases.size(), 6u);
  ScratchDir dir;
  const std::string model = write_image_model(dir, 3, 12,
                                              R"({"do_resize": true, "size": {"shortest_edge": 16}, "resample": 3,
                                                  "do_center_crop": true, "crop_size": {"height": 12, "width": 12},
                                                  "do_rescale": true, "rescale_factor": 0.00392156862745098,
                                                  "do_normalize": true,
                                                  "image_mean": [0.48145466, 0.4578275, 0.40821073],
                                                  "image_std": [0.26862954, 0.26130258, 0.27577711]})");
  const ImagePreprocessor clip = ImagePreprocessor::from_model_dir(model);
  int64_t compared = 0;
  for (const json& c : cases) {
    Image8 img;
    img.width = c["width"].get<int64_t>();
    img.height = c["height"].get<int64_t>();
    img.channels = c["channels"].get<int64_t>();
    img.pixels = c["pixels"].get<std::vector<uint8_t>>();
    for (const json& r : c["resized"]) {
      const Resample filter = Resample(r["resample"].get<int>());
      const Image8 out = resize_pil(img, r["width"].get<int64_t>(), r["height"].get<int64_t>(), filter);
      EXPECT_EQ(out.pixels, r["pixels"].get<std::vector<uint8_t>>())
          << img.width << "x" << img.height << " -> " << r["width"] << "x" << r["height"] << " filter " << int(filter);
      ++compared;
    }
    const torch::Tensor values = clip(img, "test").flatten();
    const std::vector<float> expected = c["clip"]["values"].get<std::vector<float>>();
    ASSERT_EQ(values.numel(), int64_t(expected.size()));
    const double worst = (values - torch::tensor(expected)).abs().max().item<double>();
    EXPECT_LT(worst, 1e-5) << img.width << "x" << img.height;
  }
  EXPECT_GE(compared, 48);
  // By hand: a 10 x 4 image's short side to 2 makes it int(2 * 10 / 4) = 5 wide; the crop of
  // 2 x 2 starts at column (5 - 2) / 2 = 1.
  EXPECT_EQ(shortest_edge_size(10, 4, 2), std::make_pair(int64_t(5), int64_t(2)));
  EXPECT_EQ(shortest_edge_size(4, 10, 2), std::make_pair(int64_t(2), int64_t(5)));
  Image8 strip = pattern(5, 2, 1);
  EXPECT_EQ(center_crop(strip, 2, 2, "t").pixels,
            (std::vector<uint8_t>{strip.at(0, 1, 0), strip.at(0, 2, 0), strip.at(1, 1, 0), strip.at(1, 2, 0)}));
  EXPECT_THROW(center_crop(strip, 3, 3, "t"), Error);
}

// CLIPImageProcessor's own reading of the same keys: its defaults, and an integer size as
// the shortest edge (the original OpenAI files: "size": 224, "crop_size": 224).
TEST(ImagePreprocess, ClipProcessorDefaultsAndItsIntegerSize) {
  ScratchDir dir;
  std::string model = write_image_model(dir, 3, 224, "{}");
  write_text(model + "/config.json", R"({"model_type": "clip_vision_model", "image_size": 224})");
  const ImagePreprocessor defaults = ImagePreprocessor::from_model_dir(model);
  EXPECT_EQ(defaults.shortest_edge, 224);
  EXPECT_EQ(defaults.resample, Resample::Bicubic);
  EXPECT_TRUE(defaults.do_center_crop);
  EXPECT_EQ(defaults.crop_height, 224);
  EXPECT_EQ(defaults.mean, (std::vector<double>{0.48145466, 0.4578275, 0.40821073}));
  // Named by the file, the processor decides even for a ViT ...
  write_text(model + "/config.json", R"({"model_type": "vit", "image_size": 12})");
  write_text(model + "/preprocessor_config.json",
             R"({"feature_extractor_type": "CLIPFeatureExtractor", "size": 16, "crop_size": 12})");
  const ImagePreprocessor legacy = ImagePreprocessor::from_model_dir(model);
  write_text(model + "/preprocessor_config.json",
             R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 16}, "crop_size": 12})");
  const ImagePreprocessor explicit_form = ImagePreprocessor::from_model_dir(model);
  const Image8 img = pattern(37, 23, 3);
  EXPECT_TRUE(torch::equal(legacy(img, "t"), explicit_form(img, "t")));
  EXPECT_EQ(legacy.shortest_edge, 16);
  // ... and ViT's reads an integer as both sides.
  write_text(model + "/preprocessor_config.json", R"({"size": 12})");
  const ImagePreprocessor vit = ImagePreprocessor::from_model_dir(model);
  EXPECT_EQ(vit.shortest_edge, 0);
  EXPECT_EQ(vit.width, 12);
  EXPECT_FALSE(vit.do_center_crop);
  EXPECT_EQ(vit.resample, Resample::Bilinear);
  for (const auto& [prep, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"size": {"shortest_edge": 12.5}})", "key 'shortest_edge' must be an integer"},
           {R"({"size": {"shortest_edge": 16, "height": 12, "width": 12}})", "'size' must hold shortest_edge alone"},
           {R"({"size": {"shortest_edge": 100000}, "crop_size": 12})", "'size' shortest_edge must be between 1 and 65536"},
           {R"({"size": 12, "resample": "bicubic"})", "key 'resample' must be an integer"}}) {
    write_text(model + "/preprocessor_config.json", prep);
    expect_error([&] { ImagePreprocessor::from_model_dir(model); }, {"preprocessor_config.json", message});
  }
}

// Only the part the centre crop keeps is resized, with the values of the whole resize: a
// long, thin image (a hostile one: 1 x 1,000,000) costs what a square one does.
TEST(ImagePreprocess, OnlyTheCroppedPartIsResized) {
  ScratchDir dir;
  const std::string model = write_image_model(dir, 3, 12,
                                              R"({"image_processor_type": "CLIPImageProcessor", "size": 16,
                                                  "crop_size": 12, "do_normalize": false, "do_rescale": false})");
  const ImagePreprocessor clip = ImagePreprocessor::from_model_dir(model);
  for (const auto& [w, h] : std::vector<std::pair<int64_t, int64_t>>{{20000, 3}, {2, 9001}, {37, 23}}) {
    const Image8 img = pattern(w, h, 3);
    const auto [rw, rh] = shortest_edge_size(w, h, 16);
    const Image8 whole = center_crop(resize_pil(img, rw, rh, Resample::Bicubic), 12, 12, "t");
    const torch::Tensor got = clip(img, "t");
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 12; ++y)
        for (int64_t x = 0; x < 12; ++x)
          ASSERT_EQ(got[c][y][x].item<float>(), float(whole.at(y, x, c))) << w << "x" << h;
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(clip(pattern(1000000, 1, 3), "t").sizes(), (std::vector<int64_t>{3, 12, 12}));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(ImageList, CsvWithHeaderRelativePathsAndResize) {
  ScratchDir dir;
  std::system(("mkdir -p '" + (dir / "imgs") + "'").c_str());
  write_png(dir / "imgs/a.png", pattern(7, 5, 3));
  write_png(dir / "imgs/b.png", pattern(6, 6, 1));
  write_jpeg(dir / "imgs/c.jpg", smooth(8, 8, 3), 95);
  write_text(dir / "list.csv", "path,label\nimgs/a.png,cat\n\n\"imgs/b.png\",dog\n" + (dir / "imgs/c.jpg") + ",cat\n");
  InputSpec spec;
  spec.path = dir / "list.csv";
  spec.model_dir = write_image_model(dir, 1, 4,
                                     R"({"do_resize": true, "size": {"height": 4, "width": 4}, "resample": 2,
                                         "do_rescale": true, "rescale_factor": 0.00392156862745098,
                                         "do_normalize": false})");
  InputPlan plan = plan_input(spec);
  EXPECT_EQ(plan.format, "image-csv");
  EXPECT_EQ(plan.label_names, (std::vector<std::string>{"cat", "dog"}));
  auto examples = drain(spec, plan);
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[1].id, 1);
  EXPECT_EQ(examples[1].label.item<int64_t>(), 1);
  Image8 expected = resize_pil(convert_channels(pattern(7, 5, 3), 1, "t"), 4, 4);
  ASSERT_EQ(examples[0].pixel_values.sizes(), (std::vector<int64_t>{1, 4, 4}));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      EXPECT_EQ(examples[0].pixel_values[0][y][x].item<float>(), float(expected.at(y, x, 0) * 0.00392156862745098));

  // An undecodable image is an error naming the CSV line and the image.
  write_text(dir / "imgs/bad.png", "garbage");
  write_text(dir / "list.csv", "imgs/a.png,cat\nimgs/bad.png,dog\n");
  plan = plan_input(spec);
  expect_error([&] { drain(spec, plan); }, {"list.csv:2", "bad.png", "not a PNG or JPEG"});
  write_text(dir / "list.csv", "imgs/a.png,cat,extra\n");
  expect_error([&] { plan_input(spec); }, {"list.csv:1", "3 columns"});
  write_text(dir / "list.csv", "");
  expect_error([&] { plan_input(spec); }, {"list.csv", "empty input"});
}

}  // namespace
}  // namespace sherl::test
