// The Segmenter interface: one image in, object instances (mask, box, class, score) out.
// The change detector (paper: robot-change-detection-superpoint-superglue, Sec. IV step 4 and
// Algorithm 1) uses instances to group unmatched keypoints into whole anomalous objects; the
// paper uses Mask R-CNN (COCO). Implementations, one file pair each:
//   "yolov8-seg" (yolov8_seg.h)    COCO instance masks, OpenCV DNN; AGPL weights, evaluation only
//   "deeplabv3"  (deeplabv3.h)     PASCAL VOC semantic masks split by connected components
//   "maskrcnn"   (mask_rcnn.h)     TF Object Detection API Mask R-CNN through OpenCV DNN
//   "graph"      (graph_segmenter.h) weight-free Felzenszwalb segments, class "unknown"
//   "auto"       yolov8-seg if its weights are found, else deeplabv3, else graph.
// Each keeps its options struct in its own <name>_options.h and defines that struct's Check() in
// its own .cc; adding one is that file set plus one member in SegmenterOptions and one line in
// segmenter.cc's table (docs/architecture.md, "Adding a plugin").
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/segmentation/deeplabv3_options.h"
#include "vigil/segmentation/graph_segmenter_options.h"
#include "vigil/segmentation/mask_rcnn_options.h"
#include "vigil/segmentation/yolov8_seg_options.h"

namespace vigil {

// One object instance in image coordinates (pixel (x, y) = column x, row y of the input).
struct Instance {
  cv::Mat mask;       // CV_8U, input image size, 255 inside the instance, 0 outside
  cv::Rect bbox;      // tight box of the model (detectors) or of the mask (others), clipped
  std::string label;  // class name from the model's label file; "unknown" for class-agnostic
  int class_id = -1;  // index into the model's label list; -1 for class-agnostic segments
  float score = 1.f;  // detector confidence in [0, 1]; 1 for class-agnostic segments
};

struct SegmenterOptions {
  std::string type = "auto";      // a name from SegmenterNames(), or "auto" (see top of file)
  std::string weights;            // model file; empty = weights search path (util/model_path.h)
  int num_threads = 2;            // CPU threads for inference
  float score_threshold = 0.4f;   // minimum detection confidence (detectors)
  float nms_threshold = 0.5f;     // IoU above which the weaker box is suppressed (detectors)
  int min_area_px = 200;          // instances with fewer mask pixels are dropped
  YoloV8SegOptions yolov8_seg;
  DeepLabV3Options deeplabv3;
  MaskRcnnOptions mask_rcnn;
  GraphSegmenterOptions graph;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("type", s.type);
    v("weights", s.weights);
    v("num_threads", s.num_threads);
    v("score_threshold", s.score_threshold);
    v("nms_threshold", s.nms_threshold);
    v("min_area_px", s.min_area_px);
    v("yolov8_seg", s.yolov8_seg);
    v("deeplabv3", s.deeplabv3);
    v("mask_rcnn", s.mask_rcnn);
    v("graph", s.graph);
  }
  void Check() const;
};

// A Segmenter holds a network and scratch state: use one instance per thread. Segment() sets
// OpenCV's (process-wide) thread count to options.num_threads for its duration and restores it.
class Segmenter {
 public:
  virtual ~Segmenter() = default;
  // `bgr`: 8-bit, 3 channels (BGR, as cv::imread gives) or 1 channel (gray, replicated).
  // Instances are sorted by descending score; masks have the input's size.
  virtual std::vector<Instance> Segment(const cv::Mat& bgr) = 0;
  virtual std::string name() const = 0;

  // Throws vigil::Error on an unknown type (listing the known ones), bad options, or missing /
  // wrong weights. type "auto" resolves to the first segmenter whose weights are found.
  static std::unique_ptr<Segmenter> Create(const SegmenterOptions& options);

  // The model files this instance loaded (weights, graphs), for the configuration identity:
  // a result computed with other weights must not be taken for this one's.
  const std::vector<std::filesystem::path>& model_files() const { return model_files_; }
  void set_model_files(std::vector<std::filesystem::path> files) { model_files_ = std::move(files); }

 private:
  std::vector<std::filesystem::path> model_files_;
};

// Names accepted by SegmenterOptions::type (besides "auto").
std::vector<std::string> SegmenterNames();

// What "auto" resolves to with these options (e.g. "yolov8-seg"), without loading a model.
std::string ResolveSegmenterType(const SegmenterOptions& options);

}  // namespace vigil
