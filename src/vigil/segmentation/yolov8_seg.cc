#include "vigil/segmentation/yolov8_seg.h"

#include <algorithm>
#include <cmath>

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/segmentation/instance_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

namespace si = segmentation_internal;

// Ultralytics offsets boxes by class * max_wh before one NMS so that classes never suppress
// each other (non-agnostic NMS); any offset larger than the input side works.
constexpr float kClassOffset = 8192.f;

// Ultralytics caps the detections kept after NMS (max_det).
constexpr int kMaxDetections = 300;

class YoloV8Segmenter : public Segmenter {
 public:
  explicit YoloV8Segmenter(const SegmenterOptions& options) : options_(options) {
    const std::filesystem::path weights = FindModelFile(options.weights, YoloV8SegModelSpec());
    weights_ = weights.string();
    set_model_files({weights});
    labels_ = si::ReadLabelFile(
        si::LabelPathFor(options.yolov8_seg.labels, weights, "coco80_labels.txt"));
    net_ = si::LoadNet(weights, "", {"output0", "output1"},
                       "a YOLOv8-seg ONNX export (outputs output0, output1)");
  }

  std::vector<Instance> Segment(const cv::Mat& image) override {
    const cv::Mat bgr = si::ToBgr(image, name());
    si::ScopedCvThreads threads(options_.num_threads);
    const Letterbox letterbox = ComputeLetterbox(bgr.size(), options_.yolov8_seg.input_size);
    const cv::Mat input = ApplyLetterbox(bgr, letterbox);
    const cv::Mat blob = cv::dnn::blobFromImage(input, 1.0 / 255.0, cv::Size(), cv::Scalar(),
                                                /*swapRB=*/true, /*crop=*/false);
    std::vector<cv::Mat> outputs;
    try {
      net_.setInput(blob, "images");
      net_.forward(outputs, std::vector<std::string>{"output0", "output1"});
    } catch (const cv::Exception& e) {
      ThrowError(fmt::format("{}: forward pass failed (input {}x{}; is yolov8_seg.input_size "
                             "the export's?): {}",
                             weights_, input.cols, input.rows, e.msg));
    }
    CheckOutputs(outputs);
    return DecodeYoloV8Seg(outputs[0], outputs[1], letterbox, bgr.size(), options_, labels_);
  }

  std::string name() const override { return "yolov8-seg"; }

 private:
  void CheckOutputs(const std::vector<cv::Mat>& outputs) const {
    VIGIL_CHECK(outputs.size() == 2 && outputs[0].dims == 3 && outputs[1].dims == 4,
                "{}: not a YOLOv8-seg export: expected output0 1xCxA and output1 1xMxHxW",
                weights_);
    const int channels = outputs[0].size[1];
    const int num_masks = outputs[1].size[1];
    const int num_classes = channels - 4 - num_masks;
    VIGIL_CHECK(num_classes == static_cast<int>(labels_.size()),
                "{}: output0 has {} class scores but the label file has {} labels", weights_,
                num_classes, labels_.size());
  }

  SegmenterOptions options_;
  std::string weights_;
  std::vector<std::string> labels_;
  cv::dnn::Net net_;
};

}  // namespace

ModelSpec YoloV8SegModelSpec() {
  return {{"yolov8_seg/yolov8n-seg_640.onnx"},
          "YOLOv8n-seg ONNX weights (Ultralytics, AGPL-3.0: evaluation only, never bundled)",
          "https://github.com/ultralytics/assets/releases (yolov8n-seg.pt; export with "
          "`yolo export model=yolov8n-seg.pt format=onnx opset=11 imgsz=640`)"};
}

void YoloV8SegOptions::Check() const {
  VIGIL_CHECK_OPTION(input_size >= 32 && input_size % 32 == 0, "yolov8_seg.input_size",
                     "must be a multiple of 32 (the largest stride), >= 32");
  VIGIL_CHECK_OPTION(mask_threshold > 0 && mask_threshold < 1, "yolov8_seg.mask_threshold",
                     "must be in (0, 1)");
}

std::unique_ptr<Segmenter> CreateYoloV8Segmenter(const SegmenterOptions& options) {
  return std::make_unique<YoloV8Segmenter>(options);
}

Letterbox ComputeLetterbox(cv::Size image, int input_size) {
  VIGIL_CHECK(image.width > 0 && image.height > 0, "letterbox: empty image");
  Letterbox lb;
  lb.input_size = input_size;
  lb.scale = std::min(static_cast<float>(input_size) / image.height,
                      static_cast<float>(input_size) / image.width);
  lb.resized = cv::Size(static_cast<int>(std::lround(image.width * lb.scale)),
                        static_cast<int>(std::lround(image.height * lb.scale)));
  lb.resized.width = std::min(lb.resized.width, input_size);
  lb.resized.height = std::min(lb.resized.height, input_size);
  // Ultralytics: top = round(dh - 0.1), so an odd padding puts the extra pixel at the bottom.
  const float dw = (input_size - lb.resized.width) / 2.f;
  const float dh = (input_size - lb.resized.height) / 2.f;
  lb.pad_left = static_cast<int>(std::lround(dw - 0.1f));
  lb.pad_top = static_cast<int>(std::lround(dh - 0.1f));
  return lb;
}

cv::Mat ApplyLetterbox(const cv::Mat& bgr, const Letterbox& lb) {
  cv::Mat input(lb.input_size, lb.input_size, CV_8UC3, cv::Scalar(114, 114, 114));
  cv::Mat roi = input(cv::Rect(lb.pad_left, lb.pad_top, lb.resized.width, lb.resized.height));
  if (bgr.size() == lb.resized) {
    bgr.copyTo(roi);
  } else {
    cv::resize(bgr, roi, lb.resized, 0, 0, cv::INTER_LINEAR);
  }
  return input;
}

cv::Rect2f UnLetterboxBox(const cv::Rect2f& box, const Letterbox& lb, cv::Size image) {
  const auto clamp_x = [&](float x) { return std::clamp(x, 0.f, static_cast<float>(image.width)); };
  const auto clamp_y = [&](float y) {
    return std::clamp(y, 0.f, static_cast<float>(image.height));
  };
  const float x1 = clamp_x((box.x - lb.pad_left) / lb.scale);
  const float y1 = clamp_y((box.y - lb.pad_top) / lb.scale);
  const float x2 = clamp_x((box.x + box.width - lb.pad_left) / lb.scale);
  const float y2 = clamp_y((box.y + box.height - lb.pad_top) / lb.scale);
  return {x1, y1, x2 - x1, y2 - y1};
}

std::vector<Instance> DecodeYoloV8Seg(const cv::Mat& output0, const cv::Mat& output1,
                                      const Letterbox& lb, cv::Size image,
                                      const SegmenterOptions& options,
                                      const std::vector<std::string>& labels) {
  VIGIL_CHECK(output0.dims == 3 && output0.size[0] == 1 && output0.type() == CV_32F,
              "yolov8-seg: output0 must be a 1xCxA float tensor");
  VIGIL_CHECK(output1.dims == 4 && output1.size[0] == 1 && output1.type() == CV_32F,
              "yolov8-seg: output1 must be a 1xMxHxW float tensor");
  const int channels = output0.size[1];
  const int anchors = output0.size[2];
  const int num_masks = output1.size[1];
  const int proto_h = output1.size[2];
  const int proto_w = output1.size[3];
  const int num_classes = channels - 4 - num_masks;
  VIGIL_CHECK(num_classes >= 1, "yolov8-seg: output0 has {} rows, too few for 4 box + {} mask "
              "coefficient rows", channels, num_masks);
  const float* out = output0.ptr<float>();
  const auto at = [&](int row, int anchor) { return out[static_cast<size_t>(row) * anchors + anchor]; };
  const float box_scale =
      options.yolov8_seg.boxes_normalized ? static_cast<float>(lb.input_size) : 1.f;

  // Candidates: best class per anchor above the score threshold (Ultralytics, multi_label off).
  std::vector<cv::Rect2d> boxes;       // network-input pixels
  std::vector<cv::Rect2d> nms_boxes;   // shifted by class for class-aware NMS
  std::vector<float> scores;
  std::vector<int> class_ids;
  std::vector<int> anchor_ids;
  for (int a = 0; a < anchors; ++a) {
    int best = 0;
    float best_score = at(4, a);
    for (int c = 1; c < num_classes; ++c) {
      const float s = at(4 + c, a);
      if (s > best_score) {
        best_score = s;
        best = c;
      }
    }
    if (!(best_score > options.score_threshold)) continue;
    const float cx = at(0, a) * box_scale, cy = at(1, a) * box_scale;
    const float w = at(2, a) * box_scale, h = at(3, a) * box_scale;
    const cv::Rect2d box(cx - w / 2, cy - h / 2, w, h);
    boxes.push_back(box);
    nms_boxes.push_back(box + cv::Point2d(best * kClassOffset, best * kClassOffset));
    scores.push_back(best_score);
    class_ids.push_back(best);
    anchor_ids.push_back(a);
  }
  std::vector<int> keep;
  cv::dnn::NMSBoxes(nms_boxes, scores, options.score_threshold, options.nms_threshold, keep,
                    1.f, kMaxDetections);
  if (keep.empty()) return {};

  // Mask = sigmoid(coefficients . prototypes) at prototype resolution, for kept boxes only.
  const int k = static_cast<int>(keep.size());
  cv::Mat coefs(k, num_masks, CV_32F);
  for (int i = 0; i < k; ++i) {
    for (int m = 0; m < num_masks; ++m) coefs.at<float>(i, m) = at(4 + num_classes + m, anchor_ids[keep[i]]);
  }
  const cv::Mat protos(num_masks, proto_h * proto_w, CV_32F,
                       const_cast<float*>(output1.ptr<float>()));
  cv::Mat logits = coefs * protos;  // k x (H*W)

  // The un-padded part of the input, in network pixels, maps onto the whole image.
  const cv::Rect content(lb.pad_left, lb.pad_top, lb.resized.width, lb.resized.height);
  const cv::Rect image_rect(0, 0, image.width, image.height);
  std::vector<Instance> instances;
  for (int i = 0; i < k; ++i) {
    const int d = keep[i];
    cv::Mat prob;
    cv::exp(-logits.row(i), prob);
    prob = 1.0 / (1.0 + prob);
    cv::Mat up;
    cv::resize(prob.reshape(1, proto_h), up, cv::Size(lb.input_size, lb.input_size), 0, 0,
               cv::INTER_LINEAR);
    // Crop to the box: pixel (x, y) is kept when its index lies in [x1, x2) x [y1, y2).
    const cv::Rect2d& box = boxes[d];
    const cv::Rect crop =
        cv::Rect(cv::Point(static_cast<int>(std::ceil(box.x)), static_cast<int>(std::ceil(box.y))),
                 cv::Point(static_cast<int>(std::ceil(box.x + box.width)),
                           static_cast<int>(std::ceil(box.y + box.height)))) &
        cv::Rect(0, 0, lb.input_size, lb.input_size);
    cv::Mat cropped = cv::Mat::zeros(up.size(), CV_32F);
    if (!crop.empty()) up(crop).copyTo(cropped(crop));
    cv::Mat in_image;
    cv::resize(cropped(content), in_image, image, 0, 0, cv::INTER_LINEAR);

    Instance instance;
    instance.mask = in_image > options.yolov8_seg.mask_threshold;  // 255 / 0, CV_8U
    const cv::Rect2f mapped = UnLetterboxBox(cv::Rect2f(box), lb, image);
    instance.bbox = cv::Rect(cv::Point(static_cast<int>(std::floor(mapped.x)),
                                       static_cast<int>(std::floor(mapped.y))),
                             cv::Point(static_cast<int>(std::ceil(mapped.x + mapped.width)),
                                       static_cast<int>(std::ceil(mapped.y + mapped.height)))) &
                    image_rect;
    // Bilinear spill of the crop edge must not leave the (rounded-out) box.
    cv::Mat outside(image, CV_8U, cv::Scalar(255));
    outside(instance.bbox).setTo(0);
    instance.mask.setTo(0, outside);
    instance.class_id = class_ids[d];
    instance.label = class_ids[d] < static_cast<int>(labels.size())
                         ? labels[class_ids[d]]
                         : fmt::format("class{}", class_ids[d]);
    instance.score = scores[d];
    instances.push_back(std::move(instance));
  }
  si::FilterAndSort(&instances, options.min_area_px);
  return instances;
}

}  // namespace vigil
