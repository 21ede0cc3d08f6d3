// Place-recognition descriptor for appearance retrieval: generalized-mean (GeM) pooling of a CNN
// feature map, after Radenović, Tolias & Chum, "Fine-tuning CNN Image Retrieval with No Human
// Annotation", TPAMI 2018 (eq. 2):
//
//   f_c = ( 1/|X| * sum_{x in X} max(x_c, eps)^p )^(1/p),   then f / ||f||_2
//
// over the pixels X of one feature-map channel c. p = 1 is average pooling (SPoC), p -> inf max
// pooling (MAC); the paper's p = 3 sits between: strong activations (objects, structures)
// dominate, as in MAC, but several of them add up, so the descriptor survives the crops and
// viewpoint changes that move one structure out of view, where a pixel thumbnail of the whole
// frame does not (the thumbnail's shortlist missed the right place on real runs with large
// viewpoint changes).
//
// Backbone: the ImageNet MobileNetV2 1.0/224 of ../shared/models/mobilenet_v2 (RGB,
// (pixel - 128) / 128; spade::BackbonePreset("mobilenet-v2")), used off the shelf (no
// retrieval fine-tuning: the paper's fine-tuned networks are not available here). The default
// tap s32 (1280 channels, stride 32, the last feature map before the classifier's pooling) did
// better than the mid-level s16x (576-d, stride 16) under viewpoint change on both real sets of
// bench/bench_retrieval.cc, at about the same cost (the 1x1 expansion to 1280 is cheap).
//
// Input: the whole image, aspect ratio kept, resized so that its shorter side is `short_side`
// pixels (each side rounded to a multiple of 32, the backbone's deepest stride), at every
// scale of `scales` (multi-scale: the unit descriptors of the scales are summed, then
// normalised again, as in the paper's multi-scale evaluation). The network is fully
// convolutional up to the tap, so it runs at that size; one spade::Backbone is kept per input
// size met (one per camera in practice).
//
// Descriptors are unit-length float vectors; the cosine of two is their dot product
// (DescriptorSimilarity in reference_selector.h).
//
// Whitening (`whitening`): off-the-shelf GeM vectors of ReLU features share a large common
// component (any two frames have a cosine of ~0.95), so look-alike places are told apart by
// small differences. The selector learns a PCA whitening on the reference run's own
// descriptors (Jégou & Chum, "Negative evidences and co-occurrences in image retrieval", ECCV
// 2012; the unsupervised variant of the paper's learned whitening, for which no training
// pairs exist here): centred on the reference mean, projected on the principal axes, each
// scaled by 1 / sqrt(eigenvalue + shrinkage * mean eigenvalue), then L2-normalised. The
// shrinkage keeps the weakest axes of a short run (n frames give n - 1 axes) from being
// blown up into noise; full whitening (shrinkage 0) lost a third of recall@5 under viewpoint
// change on deeppcb-dev, shrinkage 1 (the default) gained over none. Queries get the same transform. What a map stores is the descriptor
// before whitening, so whitening settings do not change a map.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

namespace vigil::spade {
class Backbone;
}

namespace vigil::retrieval {

struct PlaceDescriptorOptions {
  // ONNX backbone; empty = mobilenet_v2/mobilenet_v2_1.0_224_spade.onnx on the model search
  // path (util/model_path.h: $VIGIL_MODELS, ./models, ../shared/models).
  std::string model;
  std::string tap = "s32";             // feature map pooled (a 1 x C x H x W output of the model)
  double gem_p = 3.0;                  // GeM exponent (1 = average, large = max pooling)
  // Input's shorter side at scale 1, pixels. At least 224 for the shared MobileNetV2: OpenCV
  // sizes the whole graph, whose fixed 7x7 average pool after s32 must fit.
  int short_side = 256;
  std::vector<double> scales = {1.0};  // multi-scale: factors of short_side, summed descriptors
  std::string whitening = "pca";       // "pca" (learned on the reference run) | "none"
  double whitening_shrinkage = 1.0;    // added to each eigenvalue, times their mean
  // The selector also compares the thumbnail descriptor (reference_selector.h) and averages
  // the two cosines; the map stores both parts.
  bool fuse_thumbnail = true;
  int num_threads = 2;                 // OpenCV DNN threads
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("model", s.model);
    v("tap", s.tap);
    v("gem_p", s.gem_p);
    v("short_side", s.short_side);
    v("scales", s.scales);
    v("whitening", s.whitening);
    v("whitening_shrinkage", s.whitening_shrinkage);
    v("fuse_thumbnail", s.fuse_thumbnail);
    v("num_threads", s.num_threads);
  }
  void Check() const;
};

// The backbone file these options use: `model` when given (it must exist), else the shared
// MobileNetV2 on the model search path. Throws vigil::Error listing the paths tried.
std::filesystem::path FindPlaceModel(const PlaceDescriptorOptions& options);

// GeM pooling (eq. above) of a pixel-major feature map: data[pixel * channels + c], `pixels`
// rows. Not normalised. Values below eps = 1e-6 are clamped to it, as in the paper.
std::vector<float> GemPool(const float* data, size_t pixels, int channels, double p);

// The backbone input size for an image of `image_size` at `short_side` (see the header).
cv::Size PlaceInputSize(cv::Size image_size, int short_side);

// PCA whitening learned from a set of descriptors (see the header). Identity-free when learned
// from fewer than 3 samples (nothing to learn): Apply() returns its input.
class PcaWhitening {
 public:
  PcaWhitening() = default;
  // `samples`: equal-size descriptors; `shrinkage` >= 0 as in PlaceDescriptorOptions.
  static PcaWhitening Learn(const std::vector<std::vector<float>>& samples, double shrinkage);
  std::vector<float> Apply(const std::vector<float>& descriptor) const;  // unit length
  bool empty() const { return mean_.empty(); }
  int dims() const { return static_cast<int>(weights_.size()); }  // axes kept

 private:
  std::vector<float> mean_;
  std::vector<float> axes_;     // dims() x input dim, row-major, unit rows
  std::vector<float> weights_;  // 1 / sqrt(eigenvalue + shrinkage * mean eigenvalue)
};

class PlaceDescriber {
 public:
  // Loads the backbone (FindPlaceModel) and checks that the tap exists; throws vigil::Error
  // naming the model and the tap otherwise.
  explicit PlaceDescriber(const PlaceDescriptorOptions& options);
  ~PlaceDescriber();
  PlaceDescriber(PlaceDescriber&&) noexcept;
  PlaceDescriber& operator=(PlaceDescriber&&) noexcept;

  // The unit-length descriptor (dim() values) of an 8-bit image, gray or BGR; `source` names
  // the image in errors.
  std::vector<float> Describe(const cv::Mat& image, const std::string& source = "image");

  int dim() const { return dim_; }
  const std::filesystem::path& model_file() const { return model_file_; }
  const PlaceDescriptorOptions& options() const { return options_; }

 private:
  spade::Backbone& BackboneFor(cv::Size input);

  PlaceDescriptorOptions options_;
  std::filesystem::path model_file_;
  int dim_ = 0;
  std::map<std::pair<int, int>, std::unique_ptr<spade::Backbone>> backbones_;  // by (w, h)
};

}  // namespace vigil::retrieval
