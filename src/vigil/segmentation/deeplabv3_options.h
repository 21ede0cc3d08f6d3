// DeepLabV3's own options (the segmenter itself: deeplabv3.h). A header of its own, with no vigil
// includes, so that SegmenterOptions (segmenter.h) can hold it by value while deeplabv3.h
// includes segmenter.h; Check() is defined in deeplabv3.cc.
#pragma once

#include <string>

namespace vigil {

// DeepLabV3 MobileNetV2 trained on PASCAL VOC (TFLite model zoo), 513x513 input.
struct DeepLabV3Options {
  std::string labels;  // label file; empty = pascal_voc_segmentation_labels.txt beside weights
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("labels", s.labels);
  }
  void Check() const;
};

}  // namespace vigil
