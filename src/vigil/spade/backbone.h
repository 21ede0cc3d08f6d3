// A frozen CNN backbone run through OpenCV DNN (any ONNX graph), giving the feature pyramid and
// the pooled vector that SPADE (Cohen & Hoshen, "Sub-Image Anomaly Detection with Deep Pyramid
// Correspondences", 2020) and PatchCore (Roth et al., CVPR 2022) work on.
//
// Presets:
//   "resnet"       torchvision ResNet / Wide-ResNet exported with the outputs layer1, layer2,
//                  layer3 (pyramid) and avgpool (retrieval); RGB, ImageNet mean/std, 224x224.
//                  Export in three lines of PyTorch (torchvision >= 0.13):
// clang-format off
//   import torch, torchvision; from torchvision.models.feature_extraction import create_feature_extractor as fx
//   m = fx(torchvision.models.wide_resnet50_2(weights="DEFAULT").eval(), {k: k for k in ["layer1", "layer2", "layer3", "avgpool"]})
//   torch.onnx.export(m, torch.zeros(1, 3, 224, 224), "wrn50.onnx", input_names=["image"], output_names=["layer1", "layer2", "layer3", "avgpool"], opset_version=11)
// clang-format on
//                  (the fixture resnet18_random_taps.onnx has this interface; its avgpool is the
//                  mean of layer3 because layer4 was dropped).
//   "mobilenet-v2" the MobileNetV2 1.0/224 of ../shared/models/mobilenet_v2: taps s4x, s8x,
//                  s16x, retrieval output pool, RGB, (pixel - 128) / 128.
//
// Resize policy: every image, train and test, of whatever size and orientation, is resized to
// the model input (ResizeToModelInput: area averaging on the axes that shrink, bilinear on the
// ones that grow), the whole image with no centre crop: the reference transforms
// (PatchCore, SPADE-pytorch: Resize(256) + CenterCrop(224)) drop a border where a defect is
// never seen and that the score map cannot be mapped back onto, while anomalib's plain Resize
// keeps it. The aspect ratio is therefore not kept by the resize itself; for a data set whose
// images are far from the input's shape (e.g. KolektorSDD's ~500x1250 commutators),
// AspectPreservingInput() gives an input of the images' shape (224x576 there) instead of
// squeezing thin defects away; a fully convolutional backbone runs at any size, and a
// retrieval output pooled with a fixed kernel is averaged over what it gives. Images smaller
// than the input are upscaled (bilinear) like in the references. Score maps come out at the
// input size and are mapped back to each image's own size by the pipeline (pipeline.h).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

namespace vigil::spade {

struct BackboneOptions {
  std::string model;                                                       // ONNX file
  std::vector<std::string> pyramid_taps = {"layer1", "layer2", "layer3"};  // N x C x H x W outputs
  std::string pool_tap = "avgpool";  // retrieval output: N x C or N x C x 1 x 1
  int input_width = 224;             // model input size in pixels
  int input_height = 224;
  bool rgb = true;  // feed channels as R, G, B (false: B, G, R)
  // Input value = (pixel * scale - mean[c]) / stddev[c], channels in the fed order.
  float scale = 1.f / 255.f;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> stddev = {0.229f, 0.224f, 0.225f};
  int num_threads = 2;  // OpenCV DNN threads (cv::setNumThreads)
  void Check() const;
};

// Named presets (see the header comment); `model` is left empty.
BackboneOptions BackbonePreset(const std::string& name);
std::vector<std::string> BackbonePresetNames();

// The input size for images of `image_size`: `model_input` when the two shapes' aspect ratios
// are within `tolerance` (relative) of each other; otherwise the model input's shorter side
// kept and the other side scaled to the image's aspect ratio, rounded to a multiple of
// `multiple` (the backbone's deepest stride). Never larger than the image.
cv::Size AspectPreservingInput(cv::Size model_input, cv::Size image_size, double tolerance = 0.1,
                               int multiple = 32);

// `image` resized to `input` as the backbone does it (see the header comment); returned as is
// when it already has that size.
cv::Mat ResizeToModelInput(const cv::Mat& image, cv::Size input);

// What makes two backbones the same: the ONNX file's name, size and content hash.
struct BackboneIdentity {
  std::string file_name;
  uint64_t file_size = 0;
  std::string content_hash;  // FNV-1a 64 of the file bytes, hex
  bool operator==(const BackboneIdentity& o) const {
    return file_size == o.file_size && content_hash == o.content_hash;
  }
};

// One feature map, pixel-major: data[(y * width + x) * channels + c], so each pixel's feature
// is a contiguous row (what the kNN GEMMs want).
struct FeatureMap {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<float> data;
  const float* pixel(int y, int x) const {
    return data.data() + (static_cast<size_t>(y) * width + x) * channels;
  }
};

struct BackboneOutput {
  std::vector<FeatureMap> pyramid;  // one per pyramid tap, in option order
  std::vector<float> pooled;        // the retrieval vector
};

class Backbone {
 public:
  // Loads the model and runs it once on a blank image to check that every tap exists and has
  // the expected rank; throws vigil::Error naming the model and the offending output.
  explicit Backbone(const BackboneOptions& options);

  // Runs the network on an 8-bit image (BGR or gray, as cv::imread gives); `source` names the
  // image in errors. Any size is accepted (resized to the input); throws, naming `source`, on an
  // empty or non-8-bit image.
  BackboneOutput Run(const cv::Mat& image, const std::string& source);

  // The resized, normalised NCHW blob fed to the network (exposed for tests).
  cv::Mat Preprocess(const cv::Mat& image, const std::string& source) const;

  const BackboneOptions& options() const { return options_; }
  const BackboneIdentity& identity() const { return identity_; }
  // Shapes of the taps found at load time: {C, H, W} per pyramid tap.
  const std::vector<std::array<int, 3>>& pyramid_shapes() const { return pyramid_shapes_; }
  int pooled_dim() const { return pooled_dim_; }

 private:
  BackboneOptions options_;
  BackboneIdentity identity_;
  cv::dnn::Net net_;
  std::vector<std::array<int, 3>> pyramid_shapes_;
  int pooled_dim_ = 0;
};

// FNV-1a 64 of a byte range, continuing from `hash` (used for identities and bank checksums).
uint64_t Fnv1a64(const void* data, size_t size, uint64_t hash = 14695981039346656037ull);
BackboneIdentity IdentifyModelFile(const std::filesystem::path& model);

}  // namespace vigil::spade
