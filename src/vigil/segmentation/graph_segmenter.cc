#include "vigil/segmentation/graph_segmenter.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc/segmentation.hpp>

#include "vigil/segmentation/instance_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

namespace si = segmentation_internal;

class GraphSegmenter : public Segmenter {
 public:
  explicit GraphSegmenter(const SegmenterOptions& options) : options_(options) {
    VIGIL_CHECK(options.weights.empty(), "option segmenter weights: the graph segmenter uses "
                "no weights (got '{}')", options.weights);
    segmentation_ = cv::ximgproc::segmentation::createGraphSegmentation(
        options.graph.sigma, options.graph.k, options.graph.min_size);
  }

  std::vector<Instance> Segment(const cv::Mat& image) override {
    const cv::Mat bgr = si::ToBgr(image, name());
    si::ScopedCvThreads threads(options_.num_threads);
    cv::Mat ids;
    segmentation_->processImage(bgr, ids);
    return InstancesFromSegmentIds(ids, options_);
  }

  std::string name() const override { return "graph"; }

 private:
  SegmenterOptions options_;
  cv::Ptr<cv::ximgproc::segmentation::GraphSegmentation> segmentation_;
};

}  // namespace

void GraphSegmenterOptions::Check() const {
  VIGIL_CHECK_OPTION(sigma >= 0, "graph.sigma", "must be >= 0");
  VIGIL_CHECK_OPTION(k > 0, "graph.k", "must be > 0");
  VIGIL_CHECK_OPTION(min_size >= 1, "graph.min_size", "must be >= 1 pixel");
  VIGIL_CHECK_OPTION(max_area_fraction > 0 && max_area_fraction <= 1, "graph.max_area_fraction",
                     "must be in (0, 1]");
  VIGIL_CHECK_OPTION(min_fill_ratio >= 0 && min_fill_ratio <= 1, "graph.min_fill_ratio",
                     "must be in [0, 1]");
}

std::unique_ptr<Segmenter> CreateGraphSegmenter(const SegmenterOptions& options) {
  return std::make_unique<GraphSegmenter>(options);
}

std::vector<Instance> InstancesFromSegmentIds(const cv::Mat& segment_ids,
                                              const SegmenterOptions& options) {
  VIGIL_CHECK(!segment_ids.empty() && segment_ids.type() == CV_32SC1,
              "graph: segment ids must be a non-empty CV_32S image");
  double max_id = 0;
  cv::minMaxLoc(segment_ids, nullptr, &max_id);
  const int count = static_cast<int>(max_id) + 1;
  // One pass for area and box of every segment.
  std::vector<int> area(count, 0), x0(count, segment_ids.cols), y0(count, segment_ids.rows),
      x1(count, -1), y1(count, -1);
  for (int y = 0; y < segment_ids.rows; ++y) {
    const int* row = segment_ids.ptr<int>(y);
    for (int x = 0; x < segment_ids.cols; ++x) {
      const int id = row[x];
      VIGIL_CHECK(id >= 0, "graph: negative segment id {} at ({}, {})", id, x, y);
      ++area[id];
      x0[id] = std::min(x0[id], x);
      y0[id] = std::min(y0[id], y);
      x1[id] = std::max(x1[id], x);
      y1[id] = std::max(y1[id], y);
    }
  }
  const double max_area = options.graph.max_area_fraction * segment_ids.total();
  std::vector<Instance> instances;
  for (int id = 0; id < count; ++id) {
    if (area[id] == 0 || area[id] > max_area || area[id] < options.min_area_px) continue;
    const int box_area = (x1[id] - x0[id] + 1) * (y1[id] - y0[id] + 1);
    if (area[id] < options.graph.min_fill_ratio * box_area) continue;
    if (options.graph.drop_border_touching) {
      const int borders = (x0[id] == 0) + (y0[id] == 0) + (x1[id] == segment_ids.cols - 1) +
                          (y1[id] == segment_ids.rows - 1);
      if (borders >= 3) continue;
    }
    Instance instance;
    instance.mask = segment_ids == id;
    instance.bbox = cv::Rect(cv::Point(x0[id], y0[id]), cv::Point(x1[id] + 1, y1[id] + 1));
    instance.label = "unknown";
    instance.class_id = -1;
    instance.score = 1.f;
    instances.push_back(std::move(instance));
  }
  si::FilterAndSort(&instances, options.min_area_px);
  return instances;
}

}  // namespace vigil
