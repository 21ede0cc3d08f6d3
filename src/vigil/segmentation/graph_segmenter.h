// A weight-free, class-agnostic segmenter so that vigil runs with no model files at all:
// efficient graph-based segmentation (Felzenszwalb & Huttenlocher, "Efficient Graph-Based Image
// Segmentation", IJCV 2004) from opencv_contrib's ximgproc. Every segment of a plausible object
// size becomes an Instance of class "unknown" with score 1: segments larger than
// graph.max_area_fraction of the image (walls, floor, table tops), smaller than min_area_px,
// or filling less than graph.min_fill_ratio of their box (rings along edges) are dropped. It does not know objects: a textured object may split into several
// segments and a flat one merge with its support; the change detector only needs regions that
// group keypoints.
#pragma once

#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/segmentation/graph_segmenter_options.h"
#include "vigil/segmentation/segmenter.h"

namespace vigil {

std::unique_ptr<Segmenter> CreateGraphSegmenter(const SegmenterOptions& options);

// Turns a segment-id image (CV_32S, ids >= 0) into instances, applying the area limits of
// `options` (graph.max_area_fraction, graph.min_fill_ratio, graph.drop_border_touching,
// min_area_px).
std::vector<Instance> InstancesFromSegmentIds(const cv::Mat& segment_ids,
                                              const SegmenterOptions& options);

}  // namespace vigil
