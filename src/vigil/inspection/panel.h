// The per-query picture a person looks at, laid out like Fig. 8 of the robot change-detection
// paper: query, reference, all keypoints (matched green / unmatched red), the keypoints inside
// the overlap with its outline, all segments, the segments selected as anomalies, and the final
// anomalies (new objects red, missing objects blue, DBSCAN clusters orange).
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/inspection/change_detector.h"
#include "vigil/matching/types.h"
#include "vigil/segmentation/segmenter.h"

namespace vigil {

struct PanelInput {
  cv::Mat query;       // 8-bit BGR or gray
  cv::Mat reference;
  const Features* query_features = nullptr;
  const Matches* matches = nullptr;  // query -> reference
  const std::vector<Instance>* instances = nullptr;
  const ChangeDetectionResult* result = nullptr;
  cv::Mat dense_score;         // CV_32F query size (dense evidence): shown as a heat map in
  double dense_threshold = 0;  // place of the segments tile, scaled so the threshold is mid-range
};

// 4 + 4 tiles of half the query's size (the last tile is a legend); BGR 8-bit.
cv::Mat RenderInspectionPanel(const PanelInput& input);

// The query with the final anomalies drawn (the last panel tile at full size): what the
// ROS node publishes as its annotated image.
cv::Mat RenderAnomalyOverlay(const cv::Mat& query, const ChangeDetectionResult& result);

}  // namespace vigil
