#include "vigil/segmentation/deeplabv3.h"

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/segmentation/instance_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

namespace si = segmentation_internal;

constexpr int kInputSize = 513;  // fixed by the export

class DeepLabV3Segmenter : public Segmenter {
 public:
  explicit DeepLabV3Segmenter(const SegmenterOptions& options) : options_(options) {
    const std::filesystem::path weights = FindModelFile(options.weights, DeepLabV3ModelSpec());
    weights_ = weights.string();
    set_model_files({weights});
    labels_ = si::ReadLabelFile(si::LabelPathFor(options.deeplabv3.labels, weights,
                                                 "pascal_voc_segmentation_labels.txt"));
    VIGIL_CHECK(labels_.size() < 255, "{}: too many labels ({}) for an 8-bit label map",
                options.deeplabv3.labels, labels_.size());
    net_ = si::LoadNet(weights, "", {"logits"}, "a DeepLabV3 ONNX export (output logits)");
  }

  std::vector<Instance> Segment(const cv::Mat& image) override {
    const cv::Mat bgr = si::ToBgr(image, name());
    si::ScopedCvThreads threads(options_.num_threads);
    // blobFromImage computes (pixel - mean) * scale, i.e. (p - 128) / 128, after the resize.
    const cv::Mat blob =
        cv::dnn::blobFromImage(bgr, 1.0 / 128.0, cv::Size(kInputSize, kInputSize),
                               cv::Scalar(128, 128, 128), /*swapRB=*/true, /*crop=*/false);
    cv::Mat logits;
    try {
      net_.setInput(blob, "input");
      logits = net_.forward("logits");
    } catch (const cv::Exception& e) {
      ThrowError(fmt::format("{}: forward pass failed: {}", weights_, e.msg));
    }
    VIGIL_CHECK(logits.dims == 4 && logits.size[1] == static_cast<int>(labels_.size()),
                "{}: logits have {} channels but the label file has {} labels", weights_,
                logits.dims == 4 ? logits.size[1] : -1, labels_.size());
    const int classes = logits.size[1], h = logits.size[2], w = logits.size[3];
    const size_t plane = static_cast<size_t>(h) * w;
    const float* data = logits.ptr<float>();

    // Argmax and its softmax probability per pixel.
    cv::Mat label_map(h, w, CV_8U), confidence(h, w, CV_32F);
    auto* label_ptr = label_map.ptr<uint8_t>();
    auto* conf_ptr = confidence.ptr<float>();
    for (size_t p = 0; p < plane; ++p) {
      int best = 0;
      float best_logit = data[p];
      for (int c = 1; c < classes; ++c) {
        const float v = data[c * plane + p];
        if (v > best_logit) {
          best_logit = v;
          best = c;
        }
      }
      float denominator = 0.f;
      for (int c = 0; c < classes; ++c) denominator += std::exp(data[c * plane + p] - best_logit);
      label_ptr[p] = static_cast<uint8_t>(best);
      conf_ptr[p] = 1.f / denominator;
    }
    cv::resize(label_map, label_map, bgr.size(), 0, 0, cv::INTER_NEAREST);
    cv::resize(confidence, confidence, bgr.size(), 0, 0, cv::INTER_LINEAR);
    return InstancesFromLabelMap(label_map, confidence, labels_, options_.min_area_px);
  }

  std::string name() const override { return "deeplabv3"; }

 private:
  SegmenterOptions options_;
  std::string weights_;
  std::vector<std::string> labels_;
  cv::dnn::Net net_;
};

}  // namespace

ModelSpec DeepLabV3ModelSpec() {
  return {{"deeplabv3/deeplabv3_mnv2_pascal_513.onnx"},
          "DeepLabV3 MobileNetV2 PASCAL VOC ONNX weights (Apache-2.0)",
          "the TensorFlow Lite model zoo (deeplabv3_257_mv_gpu / deeplabv3_mnv2_pascal; convert "
          "to ONNX opset 11 with a 513x513 input)"};
}

void DeepLabV3Options::Check() const {}

std::unique_ptr<Segmenter> CreateDeepLabV3Segmenter(const SegmenterOptions& options) {
  return std::make_unique<DeepLabV3Segmenter>(options);
}

std::vector<Instance> InstancesFromLabelMap(const cv::Mat& label_map, const cv::Mat& confidence,
                                            const std::vector<std::string>& labels,
                                            int min_area_px, int background) {
  VIGIL_CHECK(!label_map.empty() && label_map.type() == CV_8UC1,
              "label map must be a non-empty 8-bit single-channel image");
  VIGIL_CHECK(confidence.empty() ||
                  (confidence.type() == CV_32FC1 && confidence.size() == label_map.size()),
              "confidence map must be float, single-channel and the label map's size");
  std::vector<bool> present(256, false);
  for (int y = 0; y < label_map.rows; ++y) {
    const auto* row = label_map.ptr<uint8_t>(y);
    for (int x = 0; x < label_map.cols; ++x) present[row[x]] = true;
  }
  std::vector<Instance> instances;
  for (int c = 0; c < 255; ++c) {
    if (!present[c] || c == background) continue;
    const cv::Mat class_mask = label_map == c;
    cv::Mat components, stats, centroids;
    const int n = cv::connectedComponentsWithStats(class_mask, components, stats, centroids, 8,
                                                   CV_32S);
    for (int i = 1; i < n; ++i) {  // 0 = everything not of class c
      if (stats.at<int>(i, cv::CC_STAT_AREA) < std::max(1, min_area_px)) continue;
      Instance instance;
      instance.mask = components == i;
      instance.bbox = cv::Rect(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                               stats.at<int>(i, cv::CC_STAT_WIDTH),
                               stats.at<int>(i, cv::CC_STAT_HEIGHT));
      instance.class_id = c;
      instance.label = c < static_cast<int>(labels.size()) ? labels[c] : fmt::format("class{}", c);
      instance.score =
          confidence.empty() ? 1.f : static_cast<float>(cv::mean(confidence, instance.mask)[0]);
      instances.push_back(std::move(instance));
    }
  }
  segmentation_internal::FilterAndSort(&instances, min_area_px);
  return instances;
}

}  // namespace vigil
