// YOLOv8-seg instance segmentation (Ultralytics, Jocher et al. 2023) run by OpenCV DNN on an ONNX
// export. The shared file models/yolov8_seg/yolov8n-seg_640.onnx is YOLOv8n-seg trained on
// COCO (80 classes, coco80_labels.txt beside it), recovered from an int8 TFLite export.
// LICENCE: Ultralytics' weights are AGPL-3.0. vigil uses them for tests and evaluation only and
// never bundles them; users supply their own model file.
//
// Conventions of the export (models/README.md): input `images` 1x3x640x640, RGB / 255,
// letterboxed with grey 114 as Ultralytics' LetterBox (scale to fit, centre, pad);
// `output0` 1x(4+80+32)x8400: box cx, cy, w, h (normalised to 0..1 in the shared export,
// pixels in Ultralytics' own), 80 class scores (already sigmoid), 32 mask coefficients;
// `output1` 1x32x160x160 mask prototypes. mask = sigmoid(coef . proto), upsampled x4 to the
// input, cropped to the box, thresholded, then the letterbox is undone.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/segmentation/segmenter.h"
#include "vigil/segmentation/yolov8_seg_options.h"
#include "vigil/util/model_path.h"

namespace vigil {

// Where the weights are searched ("yolov8_seg/yolov8n-seg_640.onnx").
ModelSpec YoloV8SegModelSpec();

std::unique_ptr<Segmenter> CreateYoloV8Segmenter(const SegmenterOptions& options);

// Ultralytics' LetterBox (center, no auto-stride): resize by `scale`, then pad to the square.
struct Letterbox {
  float scale = 1.f;  // network pixels per image pixel
  int pad_left = 0;   // grey columns left of the resized image, pixels
  int pad_top = 0;    // grey rows above the resized image, pixels
  cv::Size resized;   // size of the resized image inside the input
  int input_size = 0; // side of the square network input
};

Letterbox ComputeLetterbox(cv::Size image, int input_size);
// The network input: `bgr` resized (bilinear) and padded with grey 114, still BGR 8-bit.
cv::Mat ApplyLetterbox(const cv::Mat& bgr, const Letterbox& letterbox);
// A box in network-input pixels back to image pixels, clipped to the image.
cv::Rect2f UnLetterboxBox(const cv::Rect2f& box, const Letterbox& letterbox, cv::Size image);

// Decodes the two outputs into instances in image coordinates (pure: no network involved).
// `output0`: 1 x (4 + nc + nm) x A float; `output1`: 1 x nm x H x W float. Applies
// options.score_threshold, class-aware NMS at options.nms_threshold, the mask threshold and
// options.min_area_px; labels[class_id] names the class (or "class<id>" past its end).
std::vector<Instance> DecodeYoloV8Seg(const cv::Mat& output0, const cv::Mat& output1,
                                      const Letterbox& letterbox, cv::Size image,
                                      const SegmenterOptions& options,
                                      const std::vector<std::string>& labels);

}  // namespace vigil
