#include "vigil/segmentation/graph_segmenter.h"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/segmentation/segmenter.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

// Jaccard index of two 8-bit masks.
double IoU(const cv::Mat& a, const cv::Mat& b) {
  const double inter = cv::countNonZero(a & b);
  const double uni = cv::countNonZero(a | b);
  return uni > 0 ? inter / uni : 0.0;
}

TEST(GraphSegmenter, OneInstancePerColouredRectangle) {
  // 640x480 grey background with mild noise and three coloured rectangles: the background is
  // far larger than max_area_fraction and must be dropped; each rectangle is one instance.
  cv::Mat image(480, 640, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::Mat noise(image.size(), CV_8UC3);
  cv::RNG rng(7);  // seeded
  rng.fill(noise, cv::RNG::NORMAL, 0, 3);
  const std::vector<cv::Rect> rects = {{50, 60, 120, 90}, {300, 100, 80, 160}, {420, 330, 150, 100}};
  const std::vector<cv::Scalar> colours = {{0, 0, 220}, {0, 200, 0}, {210, 40, 40}};
  for (size_t i = 0; i < rects.size(); ++i) cv::rectangle(image, rects[i], colours[i], cv::FILLED);
  image += noise;

  SegmenterOptions options;
  options.type = "graph";
  auto segmenter = Segmenter::Create(options);
  EXPECT_EQ(segmenter->name(), "graph");
  const std::vector<Instance> instances = segmenter->Segment(image);
  ASSERT_EQ(instances.size(), rects.size());
  for (const cv::Rect& rect : rects) {
    cv::Mat expected = cv::Mat::zeros(image.size(), CV_8U);
    expected(rect).setTo(255);
    double best_iou = 0;
    const Instance* best = nullptr;
    for (const Instance& instance : instances) {
      const double iou = IoU(instance.mask, expected);
      if (iou > best_iou) best_iou = iou, best = &instance;
    }
    ASSERT_NE(best, nullptr);
    EXPECT_GT(best_iou, 0.95) << "rectangle " << rect;
    EXPECT_LE((best->bbox & rect).area(), rect.area());
    EXPECT_GT((best->bbox & rect).area(), 0.95 * rect.area()) << best->bbox << " vs " << rect;
    EXPECT_EQ(best->label, "unknown");
    EXPECT_EQ(best->class_id, -1);
    EXPECT_EQ(best->mask.type(), CV_8U);
    EXPECT_EQ(best->mask.size(), image.size());
  }
}

TEST(GraphSegmenter, AreaLimitsFromSegmentIds) {
  // Hand-made segment ids on a 100x100 image: 0 = background (7600 px), 1 = 40x40 (1600 px),
  // 2 = 20x20 (400 px), 3 = 10x10 (100 px, below min_area_px).
  cv::Mat ids(100, 100, CV_32S, cv::Scalar(0));
  ids(cv::Rect(0, 0, 40, 40)).setTo(1);
  ids(cv::Rect(50, 50, 20, 20)).setTo(2);
  ids(cv::Rect(80, 10, 10, 10)).setTo(3);
  SegmenterOptions options;
  options.min_area_px = 150;
  options.graph.max_area_fraction = 0.2f;  // 2000 px
  std::vector<Instance> instances = InstancesFromSegmentIds(ids, options);
  ASSERT_EQ(instances.size(), 2u);
  // Equal scores: larger area first.
  EXPECT_EQ(instances[0].bbox, cv::Rect(0, 0, 40, 40));
  EXPECT_EQ(cv::countNonZero(instances[0].mask), 1600);
  EXPECT_EQ(instances[1].bbox, cv::Rect(50, 50, 20, 20));

  // Segment 1 touches the top and left borders only: kept; with a 3-border rule it still stays.
  options.graph.drop_border_touching = true;
  EXPECT_EQ(InstancesFromSegmentIds(ids, options).size(), 2u);
  // A full-height strip touches top, bottom and left: dropped by the border rule.
  ids(cv::Rect(0, 0, 40, 40)).setTo(0);
  ids(cv::Rect(0, 0, 15, 100)).setTo(1);
  EXPECT_EQ(InstancesFromSegmentIds(ids, options).size(), 1u);
  options.graph.drop_border_touching = false;
  EXPECT_EQ(InstancesFromSegmentIds(ids, options).size(), 2u);

  // A one-pixel-wide rectangle outline (an edge artefact, not an object) is dropped by the fill
  // ratio: 156 pixels in a 40x40 box.
  cv::Mat ring_ids(100, 100, CV_32S, cv::Scalar(0));
  cv::rectangle(ring_ids, cv::Rect(10, 10, 40, 40), cv::Scalar(1));  // 156 px in a 40x40 box
  options.min_area_px = 100;
  options.graph.min_fill_ratio = 0.05f;
  EXPECT_EQ(InstancesFromSegmentIds(ring_ids, options).size(), 1u);  // 156 / 1600 = 0.0975
  options.graph.min_fill_ratio = 0.1f;
  EXPECT_EQ(InstancesFromSegmentIds(ring_ids, options).size(), 0u);
}

TEST(GraphSegmenter, RejectsBadOptionsAndInput) {
  SegmenterOptions options;
  options.type = "graph";
  options.graph.k = 0;
  EXPECT_THROW(Segmenter::Create(options), Error);
  options.graph.k = 500;
  options.weights = "some.onnx";
  EXPECT_THROW(Segmenter::Create(options), Error);
  options.weights.clear();
  auto segmenter = Segmenter::Create(options);
  EXPECT_THROW(segmenter->Segment(cv::Mat()), Error);
  EXPECT_THROW(segmenter->Segment(cv::Mat(10, 10, CV_32FC3)), Error);
  // Gray input is accepted.
  EXPECT_NO_THROW(segmenter->Segment(cv::Mat(48, 64, CV_8UC1, cv::Scalar(9))));
}

}  // namespace
}  // namespace vigil
