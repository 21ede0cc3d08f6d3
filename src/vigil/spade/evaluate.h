// Evaluation on MVTec-AD-style folders:
//   <category>/train/good/*.png                 normal images (the memory bank)
//   <category>/test/<defect or good>/*.png      test images
//   <category>/ground_truth/<defect>/<id>_mask.png   defect masks (255 = defect), optional
// A category without ground_truth/ gets image-level metrics only. Images may differ in size and
// orientation (each is resized to the model input, backbone.h). Pixel metrics are computed at
// each test image's own size: its score map is mapped back to it (bilinear) and its mask is read
// at it (a mask of another resolution but the same aspect ratio is resized, nearest-neighbour).
// Per category it writes overlays/<defect>/<image>.png (heat map over the image, mask outline
// in green), roc.png (image- and pixel-level ROC curves) and index.html (summary page).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/spade/backbone.h"
#include "vigil/spade/detector.h"
#include "vigil/util/progress.h"

namespace vigil::spade {

struct MvtecTestImage {
  std::filesystem::path image;
  std::string defect;          // "good" for normal images
  std::filesystem::path mask;  // empty for good images and categories without ground truth
};

struct MvtecCategory {
  std::string name;
  std::filesystem::path root;
  std::vector<std::filesystem::path> train;
  std::vector<MvtecTestImage> tests;
  bool has_ground_truth = false;
};

// Reads a category folder; throws naming the folder/file when train/good is missing or empty,
// test/ is missing, or a defect image lacks its mask while ground_truth/ exists.
MvtecCategory ReadMvtecCategory(const std::filesystem::path& dir);

// `dir` itself when it is a category (has train/), else its sub-folders that are categories.
std::vector<std::filesystem::path> FindMvtecCategories(const std::filesystem::path& dir);

struct DefectMetrics {
  int images = 0;            // defect images (the "good" ones are shared by every defect)
  double image_auroc = NAN;  // good + this defect
  double pixel_auroc = NAN;  // NaN without ground truth
  double aupro = NAN;
};

struct CategoryMetrics {
  std::string name;
  int train_images = 0;
  int test_images = 0;
  double image_auroc = NAN;
  double pixel_auroc = NAN;
  double aupro = NAN;
  double f1_max = NAN;  // image level
  std::map<std::string, DefectMetrics> by_defect;
  double fit_seconds = 0;
  double score_seconds_per_image = 0;
};

struct EvalOptions {
  std::filesystem::path out_dir;  // per-category outputs go to out_dir/<category>/
  bool write_overlays = true;     // overlay PNG per test image
  bool show_progress = true;
  double fpr_limit = 0.3;  // AUPRO integration limit
  std::string title;       // shown on the summary page (e.g. backbone + method)
};

// Fits on train/good, scores every test image, computes the metrics, writes the pictures.
CategoryMetrics EvaluateCategory(const MvtecCategory& category, Backbone& backbone,
                                 const AnomalyDetectorOptions& options,
                                 const EvalOptions& eval_options, const CancelToken* cancel);

// {"image_auroc", "pixel_auroc", "aupro", "f1_max", "by_defect": {...}, ...}; NaN -> null.
nlohmann::json MetricsToJson(const CategoryMetrics& metrics);

// Relative aspect-ratio difference within which a mask of another size is resized to its image.
inline constexpr double kMaskAspectTolerance = 0.02;

// Reads a mask as 8-bit single channel at `image_size`: resized (nearest-neighbour) when it has
// another size but the image's aspect ratio (within kMaskAspectTolerance); throws naming the
// mask and both sizes otherwise.
cv::Mat ReadMask(const std::filesystem::path& mask, cv::Size image_size);

// Heat map (JET, scaled by [lo, hi]) blended over the image, mask outline in green.
cv::Mat MakeOverlay(const cv::Mat& image, const cv::Mat& score_map, float lo, float hi,
                    const cv::Mat& mask);

}  // namespace vigil::spade
