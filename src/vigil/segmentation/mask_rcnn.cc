#include "vigil/segmentation/mask_rcnn.h"

#include <algorithm>

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/segmentation/instance_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

namespace si = segmentation_internal;
namespace fs = std::filesystem;

// The text graph OpenCV publishes for the TF model zoo's Mask R-CNN Inception v2.
constexpr const char* kDefaultConfig = "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt";

fs::path FindConfig(const std::string& explicit_config, const fs::path& weights) {
  if (!explicit_config.empty()) {
    VIGIL_CHECK(fs::is_regular_file(explicit_config), "{}: Mask R-CNN text graph not found",
                explicit_config);
    return explicit_config;
  }
  const fs::path dir = weights.parent_path();
  if (fs::is_regular_file(dir / kDefaultConfig)) return dir / kDefaultConfig;
  std::vector<fs::path> candidates;
  for (const auto& entry : fs::directory_iterator(dir.empty() ? fs::path(".") : dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".pbtxt") {
      candidates.push_back(entry.path());
    }
  }
  VIGIL_CHECK(candidates.size() == 1,
              "{}: need OpenCV's text graph (.pbtxt) for this Mask R-CNN beside it ({} found; "
              "set mask_rcnn.config, e.g. {} from OpenCV's dnn samples / opencv_extra)",
              weights.string(), candidates.size(), kDefaultConfig);
  return candidates.front();
}

class MaskRcnnSegmenter : public Segmenter {
 public:
  explicit MaskRcnnSegmenter(const SegmenterOptions& options) : options_(options) {
    const fs::path weights = FindModelFile(options.weights, MaskRcnnModelSpec());
    weights_ = weights.string();
    set_model_files({weights});
    labels_ = options.mask_rcnn.labels.empty()
                  ? Coco90Labels()
                  : si::ReadLabelFile(options.mask_rcnn.labels, /*blank_ends_list=*/false);
    net_ = si::LoadNet(weights, FindConfig(options.mask_rcnn.config, weights),
                       {"detection_out_final", "detection_masks"},
                       "a TF Object Detection API Mask R-CNN graph with OpenCV's text graph");
  }

  std::vector<Instance> Segment(const cv::Mat& image) override {
    const cv::Mat bgr = si::ToBgr(image, name());
    si::ScopedCvThreads threads(options_.num_threads);
    const int side = options_.mask_rcnn.input_size;
    // The TF graph normalises internally; it takes RGB 0..255 (OpenCV's sample: swapRB=True).
    const cv::Mat blob = cv::dnn::blobFromImage(bgr, 1.0, cv::Size(side, side), cv::Scalar(),
                                                /*swapRB=*/true, /*crop=*/false);
    std::vector<cv::Mat> outputs;
    try {
      net_.setInput(blob);
      net_.forward(outputs, std::vector<std::string>{"detection_out_final", "detection_masks"});
    } catch (const cv::Exception& e) {
      ThrowError(fmt::format("{}: forward pass failed: {}", weights_, e.msg));
    }
    return DecodeMaskRcnnOutputs(outputs[0], outputs[1], bgr.size(), options_.score_threshold,
                                 options_.mask_rcnn.mask_threshold, options_.min_area_px,
                                 labels_);
  }

  std::string name() const override { return "maskrcnn"; }

 private:
  SegmenterOptions options_;
  std::string weights_;
  std::vector<std::string> labels_;
  cv::dnn::Net net_;
};

}  // namespace

ModelSpec MaskRcnnModelSpec() {
  return {{"mask_rcnn/frozen_inference_graph.pb"},
          "Mask R-CNN frozen graph (TF Object Detection API)",
          "http://download.tensorflow.org/models/object_detection/"
          "mask_rcnn_inception_v2_coco_2018_01_28.tar.gz (text graph: OpenCV's "
          "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt)"};
}

void MaskRcnnOptions::Check() const {
  VIGIL_CHECK_OPTION(input_size >= 32, "mask_rcnn.input_size", "must be >= 32 pixels");
  VIGIL_CHECK_OPTION(mask_threshold > 0 && mask_threshold < 1, "mask_rcnn.mask_threshold",
                     "must be in (0, 1)");
}

std::unique_ptr<Segmenter> CreateMaskRcnnSegmenter(const SegmenterOptions& options) {
  return std::make_unique<MaskRcnnSegmenter>(options);
}

const std::vector<std::string>& Coco90Labels() {
  static const std::vector<std::string> labels = {
      "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
      "traffic light", "fire hydrant", "", "stop sign", "parking meter", "bench", "bird", "cat",
      "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "", "backpack",
      "umbrella", "", "", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
      "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
      "tennis racket", "bottle", "", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
      "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
      "cake", "chair", "couch", "potted plant", "bed", "", "dining table", "", "", "toilet", "",
      "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
      "toaster", "sink", "refrigerator", "", "book", "clock", "vase", "scissors", "teddy bear",
      "hair drier", "toothbrush"};
  return labels;
}

std::vector<Instance> DecodeMaskRcnnOutputs(const cv::Mat& detections, const cv::Mat& masks,
                                            cv::Size image, float score_threshold,
                                            float mask_threshold, int min_area_px,
                                            const std::vector<std::string>& labels) {
  VIGIL_CHECK(detections.dims == 4 && detections.size[3] == 7 && detections.type() == CV_32F,
              "maskrcnn: detection_out_final must be a 1x1xNx7 float tensor");
  VIGIL_CHECK(masks.dims == 4 && masks.type() == CV_32F,
              "maskrcnn: detection_masks must be an NxCxHxW float tensor");
  VIGIL_CHECK(image.width > 0 && image.height > 0, "maskrcnn: empty image size");
  const int num_detections = detections.size[2];
  const int num_classes = masks.size[1], mask_h = masks.size[2], mask_w = masks.size[3];
  VIGIL_CHECK(masks.size[0] >= num_detections,
              "maskrcnn: {} detections but only {} masks", num_detections, masks.size[0]);
  const float* rows = detections.ptr<float>();
  std::vector<Instance> instances;
  for (int i = 0; i < num_detections; ++i) {
    const float* row = rows + static_cast<size_t>(i) * 7;
    const float score = row[2];
    if (!(score > score_threshold)) continue;
    const int class_id = static_cast<int>(row[1]);
    VIGIL_CHECK(class_id >= 0 && class_id < num_classes,
                "maskrcnn: detection {} has class {} but masks have {} classes", i, class_id,
                num_classes);
    const auto px = [](float v, int size) {
      return std::clamp(static_cast<int>(size * v), 0, size - 1);
    };
    const int left = px(row[3], image.width), top = px(row[4], image.height);
    const int right = px(row[5], image.width), bottom = px(row[6], image.height);
    if (right < left || bottom < top) continue;
    const cv::Rect box(left, top, right - left + 1, bottom - top + 1);

    const cv::Mat class_mask(mask_h, mask_w, CV_32F,
                             const_cast<float*>(masks.ptr<float>(i, class_id)));
    cv::Mat resized;
    cv::resize(class_mask, resized, box.size(), 0, 0, cv::INTER_LINEAR);
    Instance instance;
    instance.mask = cv::Mat::zeros(image, CV_8U);
    instance.mask(box).setTo(255, resized > mask_threshold);
    instance.bbox = box;
    instance.class_id = class_id;
    instance.label = class_id < static_cast<int>(labels.size()) && !labels[class_id].empty()
                         ? labels[class_id]
                         : fmt::format("class{}", class_id);
    instance.score = score;
    instances.push_back(std::move(instance));
  }
  segmentation_internal::FilterAndSort(&instances, min_area_px);
  return instances;
}

}  // namespace vigil
