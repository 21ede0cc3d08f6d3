#include "vigil/segmentation/segmenter.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

TEST(Segmenter, NamesAndUnknownType) {
  const std::vector<std::string> names = SegmenterNames();
  for (const char* name : {"yolov8-seg", "deeplabv3", "maskrcnn", "graph"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  SegmenterOptions options;
  options.type = "mask2former";
  try {
    Segmenter::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mask2former"), std::string::npos) << what;
    EXPECT_NE(what.find("yolov8-seg"), std::string::npos) << what;  // lists the known ones
  }
}

TEST(Segmenter, OptionChecksNameTheField) {
  SegmenterOptions options;
  options.type = "graph";
  options.score_threshold = 1.5f;
  try {
    options.Check();
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("score_threshold"), std::string::npos) << e.what();
  }
  options.score_threshold = 0.5f;
  options.num_threads = 0;
  EXPECT_THROW(options.Check(), Error);
  options.num_threads = 1;
  options.graph.max_area_fraction = 0.f;
  EXPECT_THROW(options.Check(), Error);
  options = SegmenterOptions();
  options.weights = "x.onnx";  // "auto" cannot tell which model it is for
  EXPECT_THROW(options.Check(), Error);
}

// "auto" picks yolov8-seg, else deeplabv3, else graph, by the weights search path. The test
// runs from an empty folder so that ./models and ../shared/models hold nothing.
TEST(Segmenter, AutoFallsBackByAvailableWeights) {
  const fs::path models = testing::ModelsDir();
  VIGIL_REQUIRE_FILE(models / "yolov8_seg" / "yolov8n-seg_640.onnx");
  VIGIL_REQUIRE_FILE(models / "deeplabv3" / "deeplabv3_mnv2_pascal_513.onnx");
  const fs::path work = testing::MakeTempDir("seg_auto");
  fs::create_directories(work / "run");
  const fs::path only_deeplab = work / "only_deeplab";
  fs::create_directories(only_deeplab / "deeplabv3");
  for (const char* file : {"deeplabv3_mnv2_pascal_513.onnx", "pascal_voc_segmentation_labels.txt"}) {
    fs::create_symlink(fs::absolute(models / "deeplabv3" / file), only_deeplab / "deeplabv3" / file);
  }
  const fs::path empty = work / "empty";
  fs::create_directories(empty);

  const fs::path old_cwd = fs::current_path();
  const fs::path all_models = fs::absolute(models);
  // Only $VIGIL_MODELS may point at models here: the runner's $VIGIL_SHARED_DIR would add the
  // shared models to every search path.
  const testing::ScopedEnv no_shared("VIGIL_SHARED_DIR", std::nullopt);
  fs::current_path(work / "run");
  SegmenterOptions options;  // type "auto"
  std::string with_all, with_deeplab, with_none;
  std::unique_ptr<Segmenter> deeplab, graph;
  {
    const testing::ScopedEnv env("VIGIL_MODELS", all_models.string());
    with_all = ResolveSegmenterType(options);
  }
  {
    const testing::ScopedEnv env("VIGIL_MODELS", only_deeplab.string());
    with_deeplab = ResolveSegmenterType(options);
    deeplab = Segmenter::Create(options);
  }
  {
    const testing::ScopedEnv env("VIGIL_MODELS", empty.string());
    with_none = ResolveSegmenterType(options);
    graph = Segmenter::Create(options);
  }
  fs::current_path(old_cwd);
  EXPECT_EQ(with_all, "yolov8-seg");
  EXPECT_EQ(with_deeplab, "deeplabv3");
  EXPECT_EQ(deeplab->name(), "deeplabv3");
  EXPECT_EQ(with_none, "graph");
  EXPECT_EQ(graph->name(), "graph");
}

TEST(Segmenter, RestoresOpenCvThreadCount) {
  const int before = cv::getNumThreads();
  SegmenterOptions options;
  options.type = "graph";
  options.num_threads = 1;
  auto segmenter = Segmenter::Create(options);
  segmenter->Segment(cv::Mat(40, 40, CV_8UC3, cv::Scalar(1, 2, 3)));
  EXPECT_EQ(cv::getNumThreads(), before);
}

}  // namespace
}  // namespace vigil
