// Mask R-CNN (He et al., ICCV 2017), the segmenter of the robot change-detection paper (Sec. IV,
// step 4), run by OpenCV DNN the way OpenCV documents it (samples/dnn/mask_rcnn.py): a
// TensorFlow Object Detection API frozen graph (e.g. mask_rcnn_inception_v2_coco_2018_01_28/
// frozen_inference_graph.pb) plus OpenCV's text graph for it (.pbtxt, made by
// samples/dnn/tf_text_graph_mask_rcnn.py). Outputs: `detection_out_final` 1x1xNx7 rows
// [batch, class_id, score, x1, y1, x2, y2] with coordinates normalised to 0..1 and class_id the
// 0-based COCO-90 index (0 = person), and `detection_masks` NxCx15x15 per-class mask
// probabilities in the box. The weights are not distributed with vigil (TF model zoo, Apache-2.0).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/segmentation/mask_rcnn_options.h"
#include "vigil/segmentation/segmenter.h"
#include "vigil/util/model_path.h"

namespace vigil {

// Where the frozen graph is searched ("mask_rcnn/frozen_inference_graph.pb").
ModelSpec MaskRcnnModelSpec();

std::unique_ptr<Segmenter> CreateMaskRcnnSegmenter(const SegmenterOptions& options);

// The TF Object Detection API's COCO label map as 0-based class ids (id - 1); ids unused by
// COCO are "".
const std::vector<std::string>& Coco90Labels();

// Decodes the two outputs as OpenCV's sample does: a detection scoring above score_threshold
// gets the box x1 * width ... clamped to [0, width - 1] (inclusive corners), its class's mask
// resized bilinearly to the box and thresholded (> mask_threshold), placed in an image-size mask.
// Instances with fewer than min_area_px mask pixels are dropped; sorted by descending score.
std::vector<Instance> DecodeMaskRcnnOutputs(const cv::Mat& detections, const cv::Mat& masks,
                                            cv::Size image, float score_threshold,
                                            float mask_threshold, int min_area_px,
                                            const std::vector<std::string>& labels);

}  // namespace vigil
