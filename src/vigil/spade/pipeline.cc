#include "vigil/spade/pipeline.h"

#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"

namespace vigil::spade {
namespace fs = std::filesystem;

std::vector<fs::path> ListTrainImages(const fs::path& dir) {
  std::vector<fs::path> images = io::ListImages(dir);
  VIGIL_CHECK(!images.empty(), "{}: no train images (expected png/jpg/bmp/tif files)",
              dir.string());
  return images;
}

MemoryBank FitMemoryBank(Backbone& backbone, const AnomalyDetectorOptions& options,
                         const std::vector<fs::path>& train_images, bool show_progress,
                         const CancelToken* cancel) {
  VIGIL_CHECK(!train_images.empty(), "fit: no train images");
  AnomalyDetectorOptions fit_options = options;
  fit_options.patchcore.show_progress = show_progress;
  const auto detector = AnomalyDetector::Create(fit_options);
  MemoryBank bank;
  bank.method = options.method;
  bank.backbone = backbone.identity();
  bank.backbone_path = fs::absolute(backbone.options().model).string();
  bank.preprocessing = backbone.options();
  std::vector<BackboneOutput> features;
  features.reserve(train_images.size());
  {
    ProgressBar progress("features", train_images.size(), show_progress);
    for (const fs::path& path : train_images) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      features.push_back(backbone.Run(io::ReadImage(path), path.string()));
      bank.train_images.push_back(path.filename().string());
      progress.Advance();
    }
    progress.Finish();
  }
  detector->Fit(std::move(features), bank, cancel);
  return bank;
}

cv::Mat ScoreMapToImageSize(const cv::Mat& score_map, cv::Size image_size) {
  VIGIL_CHECK(!score_map.empty() && image_size.area() > 0,
              "ScoreMapToImageSize: empty map or size");
  if (score_map.size() == image_size) return score_map;
  cv::Mat resized;
  cv::resize(score_map, resized, image_size, 0, 0, cv::INTER_LINEAR);
  return resized;
}

AnomalyResult ScoreImage(Backbone& backbone, const AnomalyDetector& detector,
                         const MemoryBank& bank, const cv::Mat& image, const std::string& source) {
  AnomalyResult result = detector.Score(backbone.Run(image, source), bank);
  result.score_map = ScoreMapToImageSize(result.score_map, image.size());
  return result;
}

AnomalyResult ScoreImageFile(Backbone& backbone, const AnomalyDetector& detector,
                             const MemoryBank& bank, const fs::path& image) {
  return ScoreImage(backbone, detector, bank, io::ReadImage(image), image.string());
}

AnomalyDetectorOptions OptionsForBank(const AnomalyDetectorOptions& options,
                                      const MemoryBank& bank) {
  AnomalyDetectorOptions resolved = options;
  resolved.method = bank.method;
  return resolved;
}

}  // namespace vigil::spade
