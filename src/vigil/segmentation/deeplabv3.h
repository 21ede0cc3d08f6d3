// DeepLabV3 (Chen et al., "Rethinking Atrous Convolution", 2017) with a MobileNetV2 backbone,
// trained on PASCAL VOC 2012 (21 classes: background + chair, sofa, pottedplant, tvmonitor,
// bottle, person, ...), run by OpenCV DNN. The shared file models/deeplabv3/
// deeplabv3_mnv2_pascal_513.onnx is the TensorFlow model zoo's published TFLite model converted
// to ONNX (Apache-2.0), so this segmenter is licence-clean.
//
// Conventions: input `input` 1x3x513x513, RGB, (pixel - 128) / 128; the image is resized to
// 513x513 without keeping the aspect ratio (as the TFLite demo does) and the label map resized
// back (nearest). Output `logits` 1x21x513x513; argmax over channels gives the class. The model
// is semantic, so instances are the connected components (8-connected) of each non-background
// class; an instance's score is the mean softmax probability of its class over its pixels.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/segmentation/deeplabv3_options.h"
#include "vigil/segmentation/segmenter.h"
#include "vigil/util/model_path.h"

namespace vigil {

// Where the weights are searched ("deeplabv3/deeplabv3_mnv2_pascal_513.onnx").
ModelSpec DeepLabV3ModelSpec();

std::unique_ptr<Segmenter> CreateDeepLabV3Segmenter(const SegmenterOptions& options);

// Splits a semantic label map (CV_8U, class per pixel) into instances: one per 8-connected
// component of each class other than `background` and 255 (PASCAL's ignore label), with at
// least min_area_px pixels. `confidence` (CV_32F, same size, may be empty) gives the score as
// its mean over the component (1 when empty). Sorted by descending score.
std::vector<Instance> InstancesFromLabelMap(const cv::Mat& label_map, const cv::Mat& confidence,
                                            const std::vector<std::string>& labels,
                                            int min_area_px, int background = 0);

}  // namespace vigil
