// Mask R-CNN's own options (the segmenter itself: mask_rcnn.h). A header of its own, with no
// vigil includes, so that SegmenterOptions (segmenter.h) can hold it by value while mask_rcnn.h
// includes segmenter.h; Check() is defined in mask_rcnn.cc.
#pragma once

#include <string>

namespace vigil {

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

}  // namespace vigil
