// Reference-based anomaly detectors on a frozen backbone's features: fit = build a memory bank
// from images of good parts, score = compare a new image's features with the bank.
//
//   "spade"     SPADE (Cohen & Hoshen 2020) as reimplemented in SPADE-pytorch (byungjae89) and
//               specified in ../shared/fixtures/README.md: image score = mean L2 distance of the
//               pooled vector to its K nearest train images; pixel score = per pyramid layer,
//               mean distance of each query pixel's feature to its kappa nearest among all pixel
//               features of those K images, each layer's map upsampled bilinearly
//               (align_corners = false) to the input size, averaged over layers, smoothed by a
//               Gaussian (sigma 4, reflect border, truncate 4, as scipy's gaussian_filter).
//               concatenate_layers = true is the paper's variant: layers upsampled to the first
//               layer's resolution and concatenated into one feature before the pixel search.
//   "patchcore" PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection",
//               CVPR 2022) as anomalib implements it: locally aware patch features (3x3 average,
//               zero padded, of the chosen mid-level taps, upsampled bilinearly to the first
//               one's resolution and concatenated), a greedy k-center coreset of all train
//               patches (random projection for the selection distance), patch score = distance
//               to the nearest bank patch, image score = max patch score times the paper's
//               reweighting 1 - softmax over the distances to the b nearest bank neighbours of
//               that patch's nearest bank entry (eq. 7), map upsampled + Gaussian (sigma 4).
//
// Each method keeps its options struct, its command-line shorthands (kFlags) and the fields it
// fixes at fit time (kFitTimeFields) in its own <name>_options.h, defines its Check() and its
// Make function in its own .cc (spade_detector.cc, patchcore.cc); adding one is that file set plus
// one member in AnomalyDetectorOptions and one line in detector.cc's table (docs/architecture.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/spade/backbone.h"
#include "vigil/spade/knn.h"
#include "vigil/spade/memory_bank.h"
#include "vigil/spade/patchcore_options.h"
#include "vigil/spade/spade_detector_options.h"
#include "vigil/util/progress.h"

namespace vigil::spade {

struct AnomalyDetectorOptions {
  std::string method = "spade";  // spade | patchcore
  SpadeOptions spade;
  PatchCoreOptions patchcore;
  KnnOptions knn;
  void Check() const;
  // Every method's options, as FeatureExtractorOptions lists every extractor's: one identity,
  // and `--set patchcore.seed=3` reaches a field whatever the method.
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("method", s.method);
    v("spade", s.spade);
    v("patchcore", s.patchcore);
    v("knn", s.knn);
  }
};

std::vector<std::string> AnomalyDetectorNames();
// Throws "option <option>: must be one of spade|patchcore, got '<method>'" for an unknown method.
void CheckAnomalyMethod(const std::string& method, const std::string& option = "method");

// Every method's declared shorthands (its options' kFlags) as paths in AnomalyDetectorOptions
// ("patchcore.seed"), for a front end to bind. Without fit-time fields: only those that scoring
// with a saved bank can use.
std::vector<PluginFlag> AnomalyDetectorPluginFlags(bool with_fit_time_fields);
// Whether `path` ("patchcore.seed") names a field fixed when the bank is fitted (its method's
// kFitTimeFields).
bool IsFitTimeField(const std::string& path);

struct AnomalyResult {
  float image_score = 0;
  cv::Mat score_map;  // CV_32F at the model input resolution (ScoreImage: the image's size)
  std::vector<int> neighbours;  // SPADE: the K train images used, nearest first
};

class AnomalyDetector {
 public:
  static std::unique_ptr<AnomalyDetector> Create(const AnomalyDetectorOptions& options);
  virtual ~AnomalyDetector() = default;

  // Adds the method's arrays to `bank` from the train images' features (consumed: moved from,
  // so memory does not double). `cancel` may be null.
  virtual void Fit(std::vector<BackboneOutput> train, MemoryBank& bank,
                   const CancelToken* cancel) const = 0;
  virtual AnomalyResult Score(const BackboneOutput& query, const MemoryBank& bank) const = 0;
};

// --- feature-map operations shared by the detectors (exposed for tests) ---

// Bilinear resize of an H x W x C pixel-major map, PyTorch's F.interpolate(mode="bilinear",
// align_corners=False) convention (half-pixel centres, source index clamped at 0).
std::vector<float> ResizeBilinear(const float* src, int height, int width, int channels,
                                  int out_height, int out_width);

// scipy.ndimage.gaussian_filter(mode="reflect", truncate=4) on a CV_32F map, in place.
void GaussianSmooth(cv::Mat& map, double sigma);

}  // namespace vigil::spade
