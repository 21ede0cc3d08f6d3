#include "vigil/spade/backbone.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::spade {
namespace fs = std::filesystem;
namespace {

// The retrieval vector from a 1 x C or 1 x C x h x w output: a fixed-kernel average pool gives
// a small grid instead of one value per channel when the input is larger than the size the
// model was exported at (e.g. a tall 224x560 input), and the mean of that grid is what a
// global pool would have given.
std::vector<float> GlobalMean(const cv::Mat& pooled, int channels) {
  const size_t plane = pooled.total() / static_cast<size_t>(channels);
  std::vector<float> mean(channels, 0.f);
  const float* data = pooled.ptr<float>();
  for (int c = 0; c < channels; ++c) {
    double sum = 0;
    for (size_t p = 0; p < plane; ++p) sum += data[c * plane + p];
    mean[c] = static_cast<float>(sum / static_cast<double>(plane));
  }
  return mean;
}

}  // namespace

cv::Mat ResizeToModelInput(const cv::Mat& image, cv::Size input) {
  VIGIL_CHECK(!image.empty() && input.area() > 0, "ResizeToModelInput: empty image or size");
  if (image.size() == input) return image;
  // Per axis: area averaging where the image shrinks (what PIL's antialiased bilinear in the
  // references approximates; cv::INTER_LINEAR alone would alias a 2.5x reduction), bilinear
  // where it grows. OpenCV applies INTER_AREA's averaging only when both axes shrink, so a
  // mixed case (300x200 -> 224x224) is done in two passes: shrink, then grow.
  const cv::Size shrunk(std::min(image.cols, input.width), std::min(image.rows, input.height));
  cv::Mat out = image;
  if (shrunk != image.size()) cv::resize(image, out, shrunk, 0, 0, cv::INTER_AREA);
  if (shrunk != input) {
    cv::Mat grown;
    cv::resize(out, grown, input, 0, 0, cv::INTER_LINEAR);
    out = grown;
  }
  return out;
}

void BackboneOptions::Check() const {
  VIGIL_CHECK_OPTION(!pyramid_taps.empty(), "pyramid_taps", "needs at least one output name");
  for (const std::string& tap : pyramid_taps) {
    VIGIL_CHECK_OPTION(!tap.empty(), "pyramid_taps", "output names must not be empty");
  }
  VIGIL_CHECK_OPTION(!pool_tap.empty(), "pool_tap", "must name the retrieval output");
  VIGIL_CHECK_OPTION(input_width >= 8 && input_height >= 8, "input_size",
                     "must be at least 8x8 pixels");
  VIGIL_CHECK_OPTION(scale > 0, "scale", "must be > 0");
  for (float s : stddev) VIGIL_CHECK_OPTION(s > 0, "stddev", "must be > 0 for every channel");
  VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
}

BackboneOptions BackbonePreset(const std::string& name) {
  BackboneOptions options;
  if (name == "resnet") return options;  // the struct defaults are the torchvision ones
  if (name == "mobilenet-v2") {
    options.pyramid_taps = {"s4x", "s8x", "s16x"};
    options.pool_tap = "pool";
    options.scale = 1.f;
    options.mean = {128.f, 128.f, 128.f};
    options.stddev = {128.f, 128.f, 128.f};
    return options;
  }
  ThrowError(fmt::format("unknown backbone preset '{}' (known: {})", name,
                         fmt::join(BackbonePresetNames(), ", ")));
}

std::vector<std::string> BackbonePresetNames() { return {"resnet", "mobilenet-v2"}; }

cv::Size AspectPreservingInput(cv::Size model_input, cv::Size image_size, double tolerance,
                               int multiple) {
  VIGIL_CHECK(model_input.area() > 0 && image_size.area() > 0 && multiple >= 1,
              "AspectPreservingInput: empty size");
  const double model_ratio = static_cast<double>(model_input.width) / model_input.height;
  const double image_ratio = static_cast<double>(image_size.width) / image_size.height;
  if (std::abs(image_ratio / model_ratio - 1) <= tolerance) return model_input;
  auto scaled = [&](int side, double ratio, int limit) {
    const int rounded = std::max(1, static_cast<int>(std::lround(side * ratio / multiple))) * multiple;
    return std::min(rounded, limit / multiple * multiple);
  };
  const int shorter = std::min(model_input.width, model_input.height);
  if (image_ratio < 1) {  // tall: keep the width
    return {shorter, std::max(shorter, scaled(shorter, 1 / image_ratio, image_size.height))};
  }
  return {std::max(shorter, scaled(shorter, image_ratio, image_size.width)), shorter};
}

uint64_t Fnv1a64(const void* data, size_t size, uint64_t hash) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

BackboneIdentity IdentifyModelFile(const fs::path& model) {
  std::ifstream in(model, std::ios::binary);
  VIGIL_CHECK(in.good(), "{}: cannot open backbone model", model.string());
  BackboneIdentity identity;
  identity.file_name = model.filename().string();
  uint64_t hash = 14695981039346656037ull;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<size_t>(in.gcount());
    hash = Fnv1a64(buffer.data(), got, hash);
    identity.file_size += got;
  }
  identity.content_hash = fmt::format("{:016x}", hash);
  return identity;
}

Backbone::Backbone(const BackboneOptions& options) : options_(options) {
  options_.Check();
  const std::string& model = options_.model;
  VIGIL_CHECK(!model.empty(), "option backbone: no ONNX model given");
  VIGIL_CHECK(fs::is_regular_file(model), "{}: backbone model not found", model);
  identity_ = IdentifyModelFile(model);
  try {
    net_ = cv::dnn::readNetFromONNX(model);
  } catch (const cv::Exception& e) {
    ThrowError(fmt::format("{}: cannot load as ONNX ({})", model, e.err));
  }
  VIGIL_CHECK(!net_.empty(), "{}: cannot load as ONNX (empty network)", model);
  net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  SetCvThreads(options_.num_threads);

  // Dry run: every tap must exist and have the rank SPADE expects.
  cv::Mat blank(options_.input_height, options_.input_width, CV_8UC3, cv::Scalar::all(128));
  std::vector<cv::String> names(options_.pyramid_taps.begin(), options_.pyramid_taps.end());
  names.push_back(options_.pool_tap);
  std::vector<cv::Mat> outputs;
  net_.setInput(Preprocess(blank, "blank test image"));
  for (const cv::String& name : names) {
    try {
      net_.forward(outputs, std::vector<cv::String>{name});
    } catch (const cv::Exception& e) {
      std::vector<std::string> known;
      for (const auto& n : net_.getUnconnectedOutLayersNames()) known.push_back(n);
      ThrowError(fmt::format(
          "{}: the model has no usable output '{}' for a {}x{} input (graph outputs: {}; "
          "OpenCV: {})",
          model, name, options_.input_width, options_.input_height, fmt::join(known, ", "), e.err));
    }
  }
  try {
    net_.forward(outputs, names);
  } catch (const cv::Exception& e) {
    ThrowError(fmt::format("{}: inference on a {}x{} input fails ({})", model, options_.input_width,
                           options_.input_height, e.err));
  }
  for (size_t i = 0; i < options_.pyramid_taps.size(); ++i) {
    const cv::Mat& out = outputs[i];
    VIGIL_CHECK(out.dims == 4 && out.size[0] == 1,
                "{}: output '{}' must be 1 x C x H x W (a feature map), got {} dimensions", model,
                names[i], out.dims);
    pyramid_shapes_.push_back({out.size[1], out.size[2], out.size[3]});
  }
  const cv::Mat& pooled = outputs.back();
  VIGIL_CHECK((pooled.dims == 2 || pooled.dims == 4) && pooled.size[0] == 1,
              "{}: retrieval output '{}' must be 1 x C or 1 x C x h x w", model, options_.pool_tap);
  pooled_dim_ = pooled.size[1];
}

cv::Mat Backbone::Preprocess(const cv::Mat& image, const std::string& source) const {
  VIGIL_CHECK(!image.empty(), "{}: empty image", source);
  VIGIL_CHECK(image.depth() == CV_8U, "{}: expected an 8-bit image", source);
  const cv::Mat bgr = io::ToBgr(image, source);
  const cv::Mat resized =
      ResizeToModelInput(bgr, cv::Size(options_.input_width, options_.input_height));
  const int h = options_.input_height, w = options_.input_width;
  cv::Mat blob(std::vector<int>{1, 3, h, w}, CV_32F);
  float* out = blob.ptr<float>();
  for (int c = 0; c < 3; ++c) {
    const int src_channel = options_.rgb ? 2 - c : c;
    const float mul = options_.scale / options_.stddev[c];
    const float add = -options_.mean[c] / options_.stddev[c];
    float* plane = out + static_cast<size_t>(c) * h * w;
    for (int y = 0; y < h; ++y) {
      const uint8_t* row = resized.ptr<uint8_t>(y);
      for (int x = 0; x < w; ++x) plane[y * w + x] = row[x * 3 + src_channel] * mul + add;
    }
  }
  return blob;
}

BackboneOutput Backbone::Run(const cv::Mat& image, const std::string& source) {
  net_.setInput(Preprocess(image, source));
  std::vector<cv::String> names(options_.pyramid_taps.begin(), options_.pyramid_taps.end());
  names.push_back(options_.pool_tap);
  std::vector<cv::Mat> outputs;
  net_.forward(outputs, names);
  BackboneOutput result;
  for (size_t i = 0; i < pyramid_shapes_.size(); ++i) {
    const auto [channels, height, width] = pyramid_shapes_[i];
    const cv::Mat& out = outputs[i];
    VIGIL_CHECK(
        out.dims == 4 && out.size[1] == channels && out.size[2] == height && out.size[3] == width,
        "{}: output '{}' changed shape between runs", options_.model, names[i]);
    FeatureMap map;
    map.channels = channels;
    map.height = height;
    map.width = width;
    map.data.resize(static_cast<size_t>(channels) * height * width);
    // CHW -> HWC so that each pixel's feature is one contiguous row.
    const float* src = out.ptr<float>();
    const size_t plane = static_cast<size_t>(height) * width;
    for (int c = 0; c < channels; ++c) {
      for (size_t p = 0; p < plane; ++p) map.data[p * channels + c] = src[c * plane + p];
    }
    result.pyramid.push_back(std::move(map));
  }
  result.pooled = GlobalMean(outputs.back(), pooled_dim_);
  return result;
}

}  // namespace vigil::spade
