// The deep-feature channel of the dense change map: the query image against ONE registered
// reference, compared through CNN features instead of intensities.
//
// Method: SPADE's pixel-level correspondence (Cohen & Hoshen, "Sub-Image Anomaly Detection with
// Deep Pyramid Correspondences", 2020, section 3.2: a location is anomalous when its feature is
// far from every feature of the normal gallery) with the gallery restricted to ONE reference and
// to a small spatial window around the registered position, as in the photometric channel
// (change_map.h). Features are the expansion activations of an ImageNet MobileNetV2 (taps s4x,
// s8x: strides 4 and 8), L2-normalised per cell; the distance between two cells is the L2
// distance of their normalised features (sqrt(2 - 2 cos), 0..sqrt(2)). For every tap, on the
// query's cell grid:
//   R'(c)          = reference features bilinearly sampled at the registered position of cell c
//   new_score(c)   = min_{|d|<=w} |Q(c) - R'(c+d)|   query content the reference does not explain
//   missing_score(c) = min_{|d|<=w} |R'(c) - Q(c+d)| reference content the query does not explain
// with w = window_cells. The cell scores are upsampled bilinearly to query pixels and the taps
// averaged, so a ChangeMap of this channel is used exactly like a photometric one
// (MinOverReferences, CalibrateThreshold, ExtractRegions). Deep features describe a cell's
// neighbourhood (the receptive field), so they see a textureless change of texture, a flat blob
// on a textured board or a removed pattern that one grey level cannot, and they tolerate
// exposure changes and sub-cell misalignment; in exchange a change is spread over about one
// receptive field and changes smaller than a cell are weakened.
//
// Calibration caveat (measured on deeppcb-dev, binarised PCB scans): SimulateCleanQuery (a
// half-pixel shift + JPEG) under-states the deep channel's clean scores, because real clean
// pairs differ by one-pixel edge jitter that moves CNN features much more than a global
// half-pixel shift does; a threshold calibrated on it is far too low (precision 0.09). Calibrate
// this channel on real change-free captures (bench/bench_dense.cc --deeppcb-deep, "realclean").
//
// Features are computed once per image at the image's own size (rounded to a multiple of 32, the
// backbone's deepest stride; a fully convolutional network runs at any size) and never on a
// warped image: a reference's features serve every query registered to it, whatever the
// registration (homography or dense flow, registration.h).
//
// Conventions: pixel centres at integer coordinates; the cell (i, j) of a tap whose grid is
// W x H over an image of w x h pixels is centred on the pixel ((j + 0.5) w / W - 0.5,
// (i + 0.5) h / H - 0.5), the convention of cv::resize and of the backbone's resize.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vigil/dense/change_map.h"
#include "vigil/dense/registration.h"
#include "vigil/spade/backbone.h"
#include "vigil/util/model_path.h"

namespace vigil::dense {

struct DeepChangeOptions {
  // Backbone outputs scored (names of the ONNX outputs; mobilenet-v2: s4, s4x, s8, s8x, s16,
  // s16x), their scores averaged. s4x keeps changes of a few pixels; s8x is the steadier one
  // under sub-cell misalignment (a 2-px shift of fine texture: p99 0.39 at s8x, 0.51 at s4x,
  // against 0.91 and 0.72 for a flat blob); stride-16 cells are larger than most defects.
  std::vector<std::string> taps = {"s4x", "s8x"};
  // Cells, at each tap's own resolution: a query cell is explained by the best registered
  // reference cell within +-window_cells (residual misalignment up to about window_cells
  // strides). 0..8.
  int window_cells = 1;
  // Scale of the backbone input relative to the image (then rounded to a multiple of 32):
  // 1 = the image's own resolution, 0.5 = cells twice as large and a quarter of the pixels.
  // OpenCV DNN runs the whole graph whatever taps are read, so this is the cost lever: at
  // 640x480 on 2 shared cores ComputeDeepFeatures takes ~380 ms at 1 and ~100 ms at 0.5. On
  // deeppcb-dev (defects a few px to 40 px) 0.5 loses a little: best-threshold F1 0.92 vs 0.94.
  // 0.5 is the default because the dense stage's budget is 150 ms per 640x480 query. (0, 2].
  double input_scale = 0.5;
  // Pixels: Gaussian blur of the image before the backbone (0 = none). A CNN's features move
  // far more than its input when a hard edge moves by one pixel (stride aliasing); on binarised
  // PCB scans, whose clean pairs differ by exactly such one-pixel edge jitter, sigma 2 halves
  // the clean scores while defects keep theirs. [0, 10].
  double blur_sigma = 2.0;

  void Check() const;

  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("taps", s.taps);
    v("window_cells", s.window_cells);
    v("input_scale", s.input_scale);
    v("blur_sigma", s.blur_sigma);
  }
};

// The shipped MobileNetV2 ("mobilenet_v2/mobilenet_v2_1.0_224_spade.onnx" on the model search
// path, util/model_path.h).
ModelSpec DeepModelSpec();

// The backbone input size for an image of `image_size`: image_size * input_scale, each side
// rounded to the nearest multiple of 32 and at least 224 (the shipped graph's final 7x7 pool
// needs a 7-cell stride-32 map even when the network stops earlier; smaller images are upscaled).
cv::Size DeepInputSize(cv::Size image_size, const DeepChangeOptions& options);

// Backbone options for images of `image_size`: the mobilenet-v2 preset with `model`, the input
// DeepInputSize, pyramid taps = options.taps and the retrieval output set to one of them, so that
// the network stops at the deepest tap (the layers after it are never run).
spade::BackboneOptions DeepBackboneOptions(const std::string& model, cv::Size image_size,
                                           const DeepChangeOptions& options, int num_threads = 2);

// The features of one whole image, L2-normalised per cell.
struct DeepFeatures {
  std::vector<std::string> taps;       // output name of each map
  std::vector<spade::FeatureMap> maps;  // one per tap, pixel-major (spade/backbone.h)
  cv::Size image_size;                  // the image the maps describe, pixels
  bool empty() const { return maps.empty(); }
};

// Runs `backbone` on an 8-bit gray or BGR image, blurred by options.blur_sigma (then resized to
// the backbone's input, see spade/backbone.h; DeepBackboneOptions gives one at the image's own
// size) and normalises every cell of every pyramid tap. A cell whose feature is all zero stays
// zero. Throws vigil::Error on an empty or non-8-bit image.
DeepFeatures ComputeDeepFeatures(spade::Backbone& backbone, const cv::Mat& image_8u,
                                 const DeepChangeOptions& options = {});

// Whole-image deep features as an inspection uses them, for the query and the references alike:
// on the 8-bit gray image (a map stores its references in gray, so a map run and a folder run
// compute the same features), with one backbone per image size, made on first use.
class DeepFeatureComputer {
 public:
  DeepFeatureComputer(std::string model, DeepChangeOptions options, int num_threads);
  // An 8-bit gray or BGR image (BGR is converted with cv::COLOR_BGR2GRAY first).
  DeepFeatures operator()(const cv::Mat& color_or_gray);
  // What decides the features: the options that shape them (taps, input scale, blur; not the
  // scoring window) and the model file's identity (util/model_identity.h). Stored features are
  // reused only under an equal key (a map's, map/map_store.h).
  nlohmann::json Identity() const;
  std::string Key() const;  // ConfigHash(Identity())

 private:
  std::string model_;
  DeepChangeOptions options_;
  int num_threads_;
  std::map<std::pair<int, int>, std::unique_ptr<spade::Backbone>> backbones_;
};

// The deep ChangeMap at query pixel resolution (see the header comment); scores 0..sqrt(2),
// 0 outside valid. valid = query pixels whose cell, at every tap, has its whole +-window_cells
// window registered inside the reference. `registration` maps query pixels to reference pixels
// (query_size = query.image_size, reference_size = reference.image_size). Throws vigil::Error
// when a feature set is empty, lacks a tap of options.taps, or the channel counts or sizes
// disagree with each other or with the registration; a registration without any valid pixel
// gives an all-invalid map of zeros.
ChangeMap ScoreDeep(const DeepFeatures& query, const DeepFeatures& reference,
                    const Registration& registration, const DeepChangeOptions& options);

}  // namespace vigil::dense
