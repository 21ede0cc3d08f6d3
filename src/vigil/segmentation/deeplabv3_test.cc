#include "vigil/segmentation/deeplabv3.h"

#include <gtest/gtest.h>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

const std::vector<std::string> kVocLabels = {
    "background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
    "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
    "motorbike",  "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};

TEST(DeepLabV3Instances, ConnectedComponentsPerClass) {
  // 120x100 label map: two separate chair blobs (class 9), one bottle blob (5) touching a chair
  // blob (different class: separate instances), a tiny chair blob below min area, a region of
  // PASCAL's ignore label 255, background elsewhere.
  cv::Mat labels(100, 120, CV_8U, cv::Scalar(0));
  cv::Mat confidence(100, 120, CV_32F, cv::Scalar(0.5));
  labels(cv::Rect(10, 10, 30, 20)).setTo(9);  // 600 px
  confidence(cv::Rect(10, 10, 30, 20)).setTo(0.9);
  labels(cv::Rect(40, 10, 10, 20)).setTo(5);  // 200 px, touching the first chair
  confidence(cv::Rect(40, 10, 10, 20)).setTo(0.6);
  labels(cv::Rect(70, 60, 20, 20)).setTo(9);  // 400 px
  confidence(cv::Rect(70, 60, 20, 20)).setTo(0.7);
  labels(cv::Rect(100, 90, 5, 5)).setTo(9);   // 25 px: below min area
  labels(cv::Rect(0, 60, 30, 30)).setTo(255); // ignore label: never an instance

  const std::vector<Instance> instances =
      InstancesFromLabelMap(labels, confidence, kVocLabels, /*min_area_px=*/50);
  ASSERT_EQ(instances.size(), 3u);
  EXPECT_EQ(instances[0].label, "chair");
  EXPECT_EQ(instances[0].class_id, 9);
  EXPECT_EQ(instances[0].bbox, cv::Rect(10, 10, 30, 20));
  EXPECT_EQ(cv::countNonZero(instances[0].mask), 600);
  EXPECT_NEAR(instances[0].score, 0.9f, 1e-6);
  EXPECT_EQ(instances[1].label, "chair");
  EXPECT_EQ(instances[1].bbox, cv::Rect(70, 60, 20, 20));
  EXPECT_NEAR(instances[1].score, 0.7f, 1e-6);
  EXPECT_EQ(instances[2].label, "bottle");
  EXPECT_EQ(instances[2].bbox, cv::Rect(40, 10, 10, 20));
  EXPECT_EQ(cv::countNonZero(instances[2].mask), 200);
  EXPECT_EQ(instances[2].mask.at<uint8_t>(15, 39), 0);  // the chair pixel next to it

  // Diagonal contact joins pixels (8-connectivity): two squares touching at a corner = one.
  cv::Mat diagonal(20, 20, CV_8U, cv::Scalar(0));
  diagonal(cv::Rect(2, 2, 5, 5)).setTo(15);
  diagonal(cv::Rect(7, 7, 5, 5)).setTo(15);
  const auto joined = InstancesFromLabelMap(diagonal, cv::Mat(), kVocLabels, 1);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].label, "person");
  EXPECT_FLOAT_EQ(joined[0].score, 1.f);
  EXPECT_EQ(cv::countNonZero(joined[0].mask), 50);
}

TEST(DeepLabV3Segmenter, SegmentsOfficeFrame) {
  const auto weights = testing::ModelsDir() / "deeplabv3" / "deeplabv3_mnv2_pascal_513.onnx";
  const auto image_path =
      testing::DataDir() / "changes-freiburg" / "query" / "s0_1341847985.746954_v0.png";
  VIGIL_REQUIRE_FILE(weights);
  VIGIL_REQUIRE_FILE(image_path);
  SegmenterOptions options;
  options.type = "deeplabv3";
  options.weights = weights.string();
  auto segmenter = Segmenter::Create(options);
  EXPECT_EQ(segmenter->name(), "deeplabv3");
  const cv::Mat image = io::ReadImage(image_path);
  const std::vector<Instance> instances = segmenter->Segment(image);
  // The frame has an office chair filling the bottom centre and bottles on the shelf; PASCAL
  // knows both. A wrong normalisation or channel order yields background or noise instead.
  const Instance* chair = nullptr;
  for (const Instance& instance : instances) {
    SCOPED_TRACE(instance.label);
    EXPECT_EQ(instance.mask.size(), image.size());
    EXPECT_GE(cv::countNonZero(instance.mask), options.min_area_px);
    EXPECT_NE(instance.class_id, 0);
    EXPECT_GT(instance.score, 0.f);
    EXPECT_LE(instance.score, 1.f);
    if (instance.label == "chair" && (chair == nullptr || instance.bbox.area() > chair->bbox.area())) {
      chair = &instance;
    }
  }
  ASSERT_NE(chair, nullptr);
  EXPECT_GT(cv::countNonZero(chair->mask), 5000);
  EXPECT_GT(chair->bbox.y + chair->bbox.height / 2, image.rows / 2);  // lower half
  EXPECT_GT(chair->score, 0.5f);
  EXPECT_TRUE(std::any_of(instances.begin(), instances.end(),
                          [](const Instance& i) { return i.label == "bottle"; }));
}

TEST(DeepLabV3Segmenter, WrongModelGivesClearError) {
  const auto yolo = testing::ModelsDir() / "yolov8_seg" / "yolov8n-seg_640.onnx";
  VIGIL_REQUIRE_FILE(yolo);
  SegmenterOptions options;
  options.type = "deeplabv3";
  options.weights = yolo.string();
  options.deeplabv3.labels =
      (testing::ModelsDir() / "deeplabv3" / "pascal_voc_segmentation_labels.txt").string();
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("logits"), std::string::npos) << e.what();
  }
  // Missing label file beside explicit weights.
  options.deeplabv3.labels = "/nonexistent/labels.txt";
  EXPECT_THROW(Segmenter::Create(options), Error);
}

}  // namespace
}  // namespace vigil
