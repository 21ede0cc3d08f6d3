// YOLOv8-seg's own options (the segmenter itself: yolov8_seg.h). A header of its own, with no
// vigil includes, so that SegmenterOptions (segmenter.h) can hold it by value while yolov8_seg.h
// includes segmenter.h; Check() is defined in yolov8_seg.cc.
#pragma once

#include <string>

namespace vigil {

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

}  // namespace vigil
