// The Segmenter interface: one image in, object instances (mask, box, class, score) out.
// The change detector (paper: robot-change-detection-superpoint-superglue, Sec. IV step 4 and
// Algorithm 1) uses instances to group unmatched keypoints into whole anomalous objects; the
// paper uses Mask R-CNN (COCO). Implementations, one file pair each:
//   "yolov8-seg" (yolov8_seg.h)    COCO instance masks, OpenCV DNN; AGPL weights, evaluation only
//   "deeplabv3"  (deeplabv3.h)     PASCAL VOC semantic masks split by connected components
//   "maskrcnn"   (mask_rcnn.h)     TF Object Detection API Mask R-CNN through OpenCV DNN
//   "graph"      (graph_segmenter.h) weight-free Felzenszwalb segments, class "unknown"
//   "auto"       yolov8-seg if its weights are found, else deeplabv3, else graph.
// Adding one = a new file pair + one line in segmenter.cc's table.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vigil {

// One object instance in image coordinates (pixel (x, y) = column x, row y of the input).
struct Instance {
  cv::Mat mask;       // CV_8U, input image size, 255 inside the instance, 0 outside
  cv::Rect bbox;      // tight box of the model (detectors) or of the mask (others), clipped
  std::string label;  // class name from the model's label file; "unknown" for class-agnostic
  int class_id = -1;  // index into the model's label list; -1 for class-agnostic segments
  float score = 1.f;  // detector confidence in [0, 1]; 1 for class-agnostic segments
};

// YOLOv8-seg exported to ONNX (Ultralytics; input 640x640 letterboxed, see yolov8_seg.h).
struct YoloV8SegOptions {
  int input_size = 640;          // square network input side, pixels (fixed by the export)
  std::string labels;            // label file; empty = coco80_labels.txt beside the weights
  float mask_threshold = 0.5f;   // threshold on sigmoid(coef . proto), as Ultralytics
  bool boxes_normalized = true;  // output0 boxes in 0..1 (the shared export); false = pixels
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("input_size", s.input_size);
    v("labels", s.labels);
    v("mask_threshold", s.mask_threshold);
    v("boxes_normalized", s.boxes_normalized);
  }
  void Check() const;
};

// DeepLabV3 MobileNetV2 trained on PASCAL VOC (TFLite model zoo), 513x513 input.
struct DeepLabV3Options {
  std::string labels;  // label file; empty = pascal_voc_segmentation_labels.txt beside weights
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("labels", s.labels);
  }
  void Check() const;
};

// Mask R-CNN from the TensorFlow Object Detection API, run by OpenCV DNN (as in OpenCV's
// samples/dnn/mask_rcnn.py): frozen_inference_graph.pb + OpenCV's text graph .pbtxt.
struct MaskRcnnOptions {
  std::string config;          // OpenCV text graph (.pbtxt); empty = searched beside weights
  std::string labels;          // label file (one name per line, COCO 90-id order); empty = ids
  int input_size = 800;        // network input side (the text graph's resizer: 800 for
                               // mask_rcnn_inception_v2_coco)
  float mask_threshold = 0.5f; // threshold on the per-class mask probability
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("config", s.config);
    v("labels", s.labels);
    v("input_size", s.input_size);
    v("mask_threshold", s.mask_threshold);
  }
  void Check() const;
};

// Felzenszwalb & Huttenlocher (IJCV 2004) graph segmentation, opencv_contrib ximgproc.
// Defaults are for 640x480 indoor frames; images are segmented at their own size.
struct GraphSegmenterOptions {
  double sigma = 0.5;                 // Gaussian pre-smoothing, pixels (0.8 blurs edges into
                                      // separate thin segments along object outlines)
  float k = 600.f;                    // merge threshold scale (larger = larger segments)
  int min_size = 400;                 // segments smaller than this are merged, pixels
  float max_area_fraction = 0.2f;     // drop segments larger than this share of the image
                                      // (walls, floor, background)
  float min_fill_ratio = 0.15f;       // drop segments filling less of their box than this:
                                      // thin rings along strong edges, not objects
  bool drop_border_touching = false;  // also drop segments touching 3+ image borders
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("sigma", s.sigma);
    v("k", s.k);
    v("min_size", s.min_size);
    v("max_area_fraction", s.max_area_fraction);
    v("min_fill_ratio", s.min_fill_ratio);
    v("drop_border_touching", s.drop_border_touching);
  }
  void Check() const;
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
