#include "vigil/segmentation/mask_rcnn.h"

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

constexpr int kClasses = 90;
constexpr int kMaskSide = 15;

// Hand-made detection_out_final (1x1xNx7) and detection_masks (Nx90x15x15), all zero.
struct Outputs {
  cv::Mat detections;
  cv::Mat masks;
  explicit Outputs(int n) {
    const int det_shape[] = {1, 1, n, 7};
    detections = cv::Mat(4, det_shape, CV_32F, cv::Scalar(0));
    const int mask_shape[] = {n, kClasses, kMaskSide, kMaskSide};
    masks = cv::Mat(4, mask_shape, CV_32F, cv::Scalar(0));
  }
  void SetDetection(int i, int class_id, float score, float x1, float y1, float x2, float y2) {
    float* row = detections.ptr<float>() + i * 7;
    const float values[] = {0.f, static_cast<float>(class_id), score, x1, y1, x2, y2};
    std::copy(values, values + 7, row);
  }
  cv::Mat Mask(int i, int class_id) {
    return cv::Mat(kMaskSide, kMaskSide, CV_32F, masks.ptr<float>(i, class_id));
  }
};

TEST(MaskRcnnDecode, HandMadeDetections) {
  const cv::Size image(100, 80);
  Outputs out(4);
  // 0: chair (COCO id 62 -> 61), box x 0.1..0.5, y 0.25..0.75 -> pixels left 10, top 20,
  //    right 50, bottom 60 (inclusive) = 41x41; its mask is 1 in columns 0..6 of 15, 0 after.
  //    Bilinear resize 15 -> 41: output column c samples x = (c + 0.5) * 15 / 41 - 0.5, which is
  //    <= 6.47 (value >= 0.53) for c <= 18 and >= 6.63 (value <= 0.37) for c >= 19, so the
  //    mask covers box columns 0..18: 19 x 41 = 779 pixels, x in [10, 28].
  out.SetDetection(0, 61, 0.9f, 0.1f, 0.25f, 0.5f, 0.75f);
  out.Mask(0, 61).colRange(0, 7).setTo(1.f);
  // 1: person, score 0.7, box clamped at the image edge (x2 = 1.2 -> 99); mask all 0.8 in its
  //    own class channel -> whole box: x 60..99, y 0..39 = 40 x 40 = 1600 pixels.
  out.SetDetection(1, 0, 0.7f, 0.6f, -0.1f, 1.2f, 0.4999f);
  out.Mask(1, 0).setTo(0.8f);
  // 2: tv (id 72 -> 71), score 0.8, but only another class's channel is set: empty -> dropped.
  out.SetDetection(2, 71, 0.8f, 0.0f, 0.0f, 0.3f, 0.3f);
  out.Mask(2, 5).setTo(1.f);
  // 3: below the score threshold -> dropped although its mask is full.
  out.SetDetection(3, 0, 0.3f, 0.0f, 0.0f, 0.5f, 0.5f);
  out.Mask(3, 0).setTo(1.f);

  const std::vector<Instance> instances =
      DecodeMaskRcnnOutputs(out.detections, out.masks, image, 0.5f, 0.5f, 10, Coco90Labels());
  ASSERT_EQ(instances.size(), 2u);

  const Instance& chair = instances[0];  // highest score first
  EXPECT_EQ(chair.label, "chair");
  EXPECT_EQ(chair.class_id, 61);
  EXPECT_FLOAT_EQ(chair.score, 0.9f);
  EXPECT_EQ(chair.bbox, cv::Rect(10, 20, 41, 41));
  EXPECT_EQ(chair.mask.size(), image);
  EXPECT_EQ(chair.mask.type(), CV_8U);
  EXPECT_EQ(cv::countNonZero(chair.mask), 19 * 41);
  EXPECT_EQ(cv::countNonZero(chair.mask(cv::Rect(10, 20, 19, 41))), 19 * 41);
  EXPECT_EQ(chair.mask.at<uint8_t>(40, 28), 255);
  EXPECT_EQ(chair.mask.at<uint8_t>(40, 29), 0);

  const Instance& person = instances[1];
  EXPECT_EQ(person.label, "person");
  EXPECT_EQ(person.bbox, cv::Rect(60, 0, 40, 40));
  EXPECT_EQ(cv::countNonZero(person.mask), 1600);
  EXPECT_EQ(cv::countNonZero(person.mask(person.bbox)), 1600);

  // min_area_px above the chair's 779 pixels keeps only the person.
  EXPECT_EQ(
      DecodeMaskRcnnOutputs(out.detections, out.masks, image, 0.5f, 0.5f, 800, Coco90Labels())
          .size(),
      1u);
}

TEST(MaskRcnnDecode, RejectsMalformedTensors) {
  Outputs out(1);
  out.SetDetection(0, 95, 0.9f, 0.1f, 0.1f, 0.5f, 0.5f);  // class beyond the 90 mask channels
  EXPECT_THROW(DecodeMaskRcnnOutputs(out.detections, out.masks, cv::Size(10, 10), 0.5f, 0.5f, 0,
                                     Coco90Labels()),
               Error);
  EXPECT_THROW(DecodeMaskRcnnOutputs(cv::Mat(3, 7, CV_32F), out.masks, cv::Size(10, 10), 0.5f,
                                     0.5f, 0, Coco90Labels()),
               Error);
}

TEST(MaskRcnnDecode, CocoLabelMapHasNinetyIds) {
  const auto& labels = Coco90Labels();
  ASSERT_EQ(labels.size(), 90u);
  EXPECT_EQ(labels[0], "person");
  EXPECT_EQ(labels[61], "chair");
  EXPECT_EQ(labels[71], "tv");
  EXPECT_EQ(labels[89], "toothbrush");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), std::string()), 10);  // 80 COCO classes
}

TEST(MaskRcnnSegmenter, MissingWeightsGiveClearError) {
  SegmenterOptions options;
  options.type = "maskrcnn";
  options.weights = (testing::MakeTempDir("maskrcnn") / "frozen_inference_graph.pb").string();
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("frozen_inference_graph.pb"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("Mask R-CNN"), std::string::npos) << e.what();
  }
}

TEST(MaskRcnnSegmenter, MissingTextGraphGivesClearError) {
  const auto dir = testing::MakeTempDir("maskrcnn_cfg");
  const auto pb = dir / "frozen_inference_graph.pb";
  { std::ofstream(pb) << "not a graph"; }
  SegmenterOptions options;
  options.type = "maskrcnn";
  options.weights = pb.string();
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(".pbtxt"), std::string::npos) << e.what();
  }
  // With a (garbage) text graph beside it, loading fails as a vigil::Error, not a crash.
  { std::ofstream(dir / "graph.pbtxt") << "garbage {"; }
  EXPECT_THROW(Segmenter::Create(options), Error);
}

}  // namespace
}  // namespace vigil
