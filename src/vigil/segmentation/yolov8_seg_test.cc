#include "vigil/segmentation/yolov8_seg.h"

#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

std::string WeightsPath() {
  return (testing::ModelsDir() / "yolov8_seg" / "yolov8n-seg_640.onnx").string();
}

// An office frame of changes-freiburg (chairs, bottles on a shelf), query without change.
std::string OfficeImagePath() {
  return (testing::DataDir() / "changes-freiburg" / "query" / "s0_1341847985.746954_v0.png")
      .string();
}

TEST(YoloV8SegLetterbox, MatchesUltralyticsLetterBox) {
  // 640x480 landscape: no resize, 80 grey rows above and below.
  Letterbox lb = ComputeLetterbox(cv::Size(640, 480), 640);
  EXPECT_FLOAT_EQ(lb.scale, 1.f);
  EXPECT_EQ(lb.resized, cv::Size(640, 480));
  EXPECT_EQ(lb.pad_left, 0);
  EXPECT_EQ(lb.pad_top, 80);
  // 320x480 portrait: scale 4/3, 427x640, dw = 106.5 -> left round(106.4) = 106 (right 107).
  lb = ComputeLetterbox(cv::Size(320, 480), 640);
  EXPECT_FLOAT_EQ(lb.scale, 640.f / 480.f);
  EXPECT_EQ(lb.resized, cv::Size(427, 640));
  EXPECT_EQ(lb.pad_left, 106);
  EXPECT_EQ(lb.pad_top, 0);
  // 1000x500: scale 0.64, 640x320, 160 rows above.
  lb = ComputeLetterbox(cv::Size(1000, 500), 640);
  EXPECT_EQ(lb.resized, cv::Size(640, 320));
  EXPECT_EQ(lb.pad_top, 160);

  // The padded input holds grey 114 outside the resized image.
  cv::Mat image(480, 320, CV_8UC3, cv::Scalar(10, 20, 30));
  lb = ComputeLetterbox(image.size(), 640);
  const cv::Mat input = ApplyLetterbox(image, lb);
  ASSERT_EQ(input.size(), cv::Size(640, 640));
  EXPECT_EQ(input.at<cv::Vec3b>(320, 105), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(input.at<cv::Vec3b>(320, 106), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(input.at<cv::Vec3b>(320, 532), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(input.at<cv::Vec3b>(320, 533), cv::Vec3b(114, 114, 114));

  // Un-mapping: input box x 146..306, y 80..400 -> image x 30..150, y 60..300.
  const cv::Rect2f box = UnLetterboxBox(cv::Rect2f(146, 80, 160, 320), lb, image.size());
  EXPECT_NEAR(box.x, 30, 1e-3);
  EXPECT_NEAR(box.y, 60, 1e-3);
  EXPECT_NEAR(box.width, 120, 1e-3);
  EXPECT_NEAR(box.height, 240, 1e-3);
  // Clipped to the image.
  const cv::Rect2f clipped = UnLetterboxBox(cv::Rect2f(0, -20, 700, 100), lb, image.size());
  EXPECT_FLOAT_EQ(clipped.x, 0.f);
  EXPECT_FLOAT_EQ(clipped.y, 0.f);
  EXPECT_FLOAT_EQ(clipped.width, 320.f);
}

// Hand-made outputs for a 320x480 (portrait, padded left/right) image with 2 classes and one
// mask coefficient; prototypes are +10 everywhere so a coefficient of +1 gives a mask that is
// ~1 over the whole box and -1 an empty one.
struct HandMadeOutputs {
  static constexpr int kAnchors = 5;
  static constexpr int kRows = 4 + 2 + 1;
  cv::Mat output0, output1;
  explicit HandMadeOutputs(bool normalized) {
    const int shape0[] = {1, kRows, kAnchors};
    output0 = cv::Mat(3, shape0, CV_32F, cv::Scalar(0));
    const int shape1[] = {1, 1, 160, 160};
    output1 = cv::Mat(4, shape1, CV_32F, cv::Scalar(10));
    const float s = normalized ? 1.f / 640.f : 1.f;
    // Anchor 0: class 1, 0.9, image box x 30..150, y 60..300 = input cx 226, cy 240, 160x320.
    Set(0, 226 * s, 240 * s, 160 * s, 320 * s, 0.0f, 0.9f, 1.f);
    // Anchor 1: same class, lower score, nearly the same box -> suppressed by NMS.
    Set(1, 228 * s, 242 * s, 160 * s, 320 * s, 0.0f, 0.8f, 1.f);
    // Anchor 2: same box, other class -> kept (NMS is per class). Image box x 30..150 too.
    Set(2, 226 * s, 240 * s, 160 * s, 320 * s, 0.85f, 0.1f, 1.f);
    // Anchor 3: below the score threshold.
    Set(3, 400 * s, 300 * s, 100 * s, 100 * s, 0.2f, 0.1f, 1.f);
    // Anchor 4: confident but its mask is empty -> dropped by min_area_px.
    Set(4, 400 * s, 500 * s, 100 * s, 100 * s, 0.95f, 0.0f, -1.f);
  }
  void Set(int a, float cx, float cy, float w, float h, float s0, float s1, float coef) {
    const float values[kRows] = {cx, cy, w, h, s0, s1, coef};
    for (int r = 0; r < kRows; ++r) output0.ptr<float>()[r * kAnchors + a] = values[r];
  }
};

void ExpectHandMadeDecode(bool normalized) {
  const cv::Size image(320, 480);
  const Letterbox lb = ComputeLetterbox(image, 640);
  SegmenterOptions options;
  options.score_threshold = 0.5f;
  options.nms_threshold = 0.5f;
  options.min_area_px = 50;
  options.yolov8_seg.boxes_normalized = normalized;
  const HandMadeOutputs out(normalized);
  const std::vector<Instance> instances =
      DecodeYoloV8Seg(out.output0, out.output1, lb, image, options, {"cat", "dog"});
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0].label, "dog");
  EXPECT_EQ(instances[0].class_id, 1);
  EXPECT_FLOAT_EQ(instances[0].score, 0.9f);
  EXPECT_EQ(instances[1].label, "cat");
  EXPECT_FLOAT_EQ(instances[1].score, 0.85f);
  for (const Instance& instance : instances) {
    ASSERT_EQ(instance.mask.size(), image);
    ASSERT_EQ(instance.mask.type(), CV_8U);
    // Box x 30..150, y 60..300 in image pixels (allow one pixel of float rounding).
    EXPECT_NEAR(instance.bbox.x, 30, 1);
    EXPECT_NEAR(instance.bbox.y, 60, 1);
    EXPECT_NEAR(instance.bbox.br().x, 150, 1);
    EXPECT_NEAR(instance.bbox.br().y, 300, 1);
    // The mask fills the box (sigmoid(10) ~ 1) up to a pixel at the edges and never leaves it.
    const int area = cv::countNonZero(instance.mask);
    EXPECT_EQ(cv::countNonZero(instance.mask(instance.bbox)), area);
    EXPECT_NEAR(area, 120 * 240, 2 * (120 + 240));
    EXPECT_EQ(instance.mask.at<uint8_t>(180, 90), 255);
    EXPECT_EQ(instance.mask.at<uint8_t>(180, 200), 0);
  }
}

TEST(YoloV8SegDecode, HandMadeOutputsNormalizedBoxes) { ExpectHandMadeDecode(true); }
TEST(YoloV8SegDecode, HandMadeOutputsPixelBoxes) { ExpectHandMadeDecode(false); }

// Runs the real network once per test binary on the office frame and on its right half.
class YoloV8SegReal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(WeightsPath()) || !std::filesystem::exists(OfficeImagePath())) {
      return;
    }
    SegmenterOptions options;
    options.type = "yolov8-seg";
    options.weights = WeightsPath();
    auto segmenter = Segmenter::Create(options);
    image_ = new cv::Mat(io::ReadImage(OfficeImagePath()));
    full_ = new std::vector<Instance>(segmenter->Segment(*image_));
    // Right half, 320x480: a portrait image letterboxed with left/right padding.
    right_half_ = new std::vector<Instance>(
        segmenter->Segment((*image_)(cv::Rect(320, 0, 320, 480)).clone()));
  }
  static void TearDownTestSuite() {
    delete image_;
    delete full_;
    delete right_half_;
  }
  void SetUp() override {
    VIGIL_REQUIRE_FILE(WeightsPath());
    VIGIL_REQUIRE_FILE(OfficeImagePath());
  }
  static const Instance* Best(const std::vector<Instance>& instances, const std::string& label) {
    for (const Instance& instance : instances) {
      if (instance.label == label) return &instance;  // sorted by score
    }
    return nullptr;
  }
  static inline cv::Mat* image_ = nullptr;
  static inline std::vector<Instance>* full_ = nullptr;
  static inline std::vector<Instance>* right_half_ = nullptr;
};

TEST_F(YoloV8SegReal, FindsOfficeObjectsWithMasksInsideBoxes) {
  // The frame shows office chairs and bottles on a shelf; a decoder with wrong box scaling,
  // channel order or mask maths either misses them or produces masks that do not fit the box.
  const Instance* chair = Best(*full_, "chair");
  ASSERT_NE(chair, nullptr);
  EXPECT_GT(chair->score, 0.6f);
  ASSERT_NE(Best(*full_, "bottle"), nullptr);
  EXPECT_GT(Best(*full_, "bottle")->score, 0.5f);
  for (const Instance& instance : *full_) {
    SCOPED_TRACE(instance.label + " " + std::to_string(instance.score));
    ASSERT_EQ(instance.mask.size(), image_->size());
    const int area = cv::countNonZero(instance.mask);
    EXPECT_EQ(cv::countNonZero(instance.mask(instance.bbox)), area);  // inside its box
    EXPECT_GT(area, 0.2 * instance.bbox.area());  // and a real part of it
    EXPECT_GE(instance.score, 0.4f);
    EXPECT_GE(instance.class_id, 0);
    EXPECT_LT(instance.class_id, 80);
  }
}

TEST_F(YoloV8SegReal, UnLetterboxesPortraitCrop) {
  // The chair on the right of the frame, seen in the 320x480 right half: same object, box
  // shifted by -320 in x. Differences come only from network input resampling (scale 4/3).
  const Instance* chair = nullptr;
  for (const Instance& instance : *full_) {
    if (instance.label == "chair" && instance.bbox.x >= 330) chair = &instance;
  }
  ASSERT_NE(chair, nullptr) << "no chair in the right half of the full frame";
  const cv::Rect expected = chair->bbox - cv::Point(320, 0);
  const Instance* match = nullptr;
  double best_iou = 0;
  for (const Instance& instance : *right_half_) {
    if (instance.label != "chair") continue;
    const double iou = static_cast<double>((instance.bbox & expected).area()) /
                       (instance.bbox | expected).area();
    if (iou > best_iou) best_iou = iou, match = &instance;
  }
  ASSERT_NE(match, nullptr);
  EXPECT_GT(best_iou, 0.8) << match->bbox << " vs " << expected;
  EXPECT_EQ(match->mask.size(), cv::Size(320, 480));
  // Masks agree too.
  const cv::Mat full_mask = chair->mask(cv::Rect(320, 0, 320, 480));
  const double inter = cv::countNonZero(full_mask & match->mask);
  const double uni = cv::countNonZero(full_mask | match->mask);
  EXPECT_GT(inter / uni, 0.75);
}

TEST(YoloV8SegSegmenter, WrongOrMissingWeightsGiveClearErrors) {
  SegmenterOptions options;
  options.type = "yolov8-seg";
  options.weights = "/nonexistent/yolov8n-seg_640.onnx";
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/yolov8n-seg_640.onnx"), std::string::npos)
        << e.what();
  }
  // A real ONNX file of another model (DeepLabV3), with the COCO labels beside it.
  const auto deeplab = testing::ModelsDir() / "deeplabv3" / "deeplabv3_mnv2_pascal_513.onnx";
  VIGIL_REQUIRE_FILE(deeplab);
  options.weights = deeplab.string();
  options.yolov8_seg.labels =
      (testing::ModelsDir() / "yolov8_seg" / "coco80_labels.txt").string();
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deeplabv3_mnv2_pascal_513.onnx"), std::string::npos);
  }
  // Not an ONNX file at all.
  const auto dir = testing::MakeTempDir("yolo_garbage");
  { std::ofstream(dir / "model.onnx") << "garbage"; }
  options.weights = (dir / "model.onnx").string();
  EXPECT_THROW(Segmenter::Create(options), Error);
}

}  // namespace
}  // namespace vigil
