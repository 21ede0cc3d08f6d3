#include "vigil/retrieval/run.h"

#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil::retrieval {
namespace {
namespace fs = std::filesystem;

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

void WriteDummyImage(const fs::path& path) {
  ASSERT_TRUE(cv::imwrite(path.string(), cv::Mat(4, 4, CV_8UC1, cv::Scalar(7))));
}

// Expects LoadRun to throw a vigil::Error whose message contains every fragment.
void ExpectLoadError(const fs::path& dir, const std::vector<std::string>& fragments,
                     const RunOptions& options = {}) {
  try {
    LoadRun(dir, options);
    FAIL() << "no error for " << dir;
  } catch (const Error& e) {
    for (const std::string& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message '" << e.what() << "' lacks '" << fragment << "'";
    }
  }
}

const char kHeader[] = "image,x,y,z,qx,qy,qz,qw\n";

TEST(Run, LoadsChangesFreiburgPosesCsv) {
  const fs::path dir = testing::DataDir() / "changes-freiburg" / "reference";
  VIGIL_REQUIRE_FILE(dir / "poses.csv");
  const retrieval::Run run = LoadRun(dir);
  ASSERT_EQ(run.frames.size(), 9u);
  EXPECT_EQ(run.pose_source, PoseSource::kPosesCsv);
  EXPECT_EQ(run.NumPosed(), 9);
  // Row 2 of poses.csv: s0_1341847982.730674.png,0.5997,0,0,0,0,0,1 (frames in time order).
  EXPECT_EQ(run.frames[1].image.filename(), "s0_1341847982.730674.png");
  EXPECT_NEAR(run.frames[1].pose->position.x(), 0.5997, 1e-12);
  EXPECT_NEAR(run.frames[1].pose->orientation.w(), 1.0, 1e-12);
  ASSERT_TRUE(run.frames[1].timestamp.has_value());
  EXPECT_NEAR(*run.frames[1].timestamp, 1341847982.730674, 1e-6);
}

TEST(Run, NumberAwareLessOrdersFramesAsNumbered) {
  EXPECT_TRUE(NumberAwareLess("frame_2.png", "frame_10.png"));
  EXPECT_FALSE(NumberAwareLess("frame_10.png", "frame_2.png"));
  EXPECT_TRUE(NumberAwareLess("frame_0009.png", "frame_10.png"));
  EXPECT_TRUE(NumberAwareLess("a_1_b_2.png", "a_1_b_10.png"));
  EXPECT_TRUE(NumberAwareLess("a.png", "b.png"));
  EXPECT_TRUE(NumberAwareLess("frame.png", "frame_1.png"));
  // Equal values: the plain order decides, so the order stays total and strict.
  EXPECT_NE(NumberAwareLess("x_07.png", "x_7.png"), NumberAwareLess("x_7.png", "x_07.png"));
  EXPECT_FALSE(NumberAwareLess("x_7.png", "x_7.png"));
}

TEST(Run, FramesComeInRecordingOrder) {
  const fs::path dir = testing::MakeTempDir("run_order");
  // Counters without zero padding: by value, not by character.
  for (const char* name : {"frame_10.png", "frame_9.png", "frame_1.png", "frame_100.png"}) {
    WriteDummyImage(dir / name);
  }
  const retrieval::Run counters = LoadRun(dir);
  std::vector<std::string> names;
  for (const RunFrame& f : counters.frames) names.push_back(f.image.filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"frame_1.png", "frame_9.png", "frame_10.png",
                                             "frame_100.png"}));
  // Timestamps: by time, whatever the names say before them.
  const fs::path timed = testing::MakeTempDir("run_order_timed");
  for (const char* name : {"b_1700000001.5.png", "a_1700000002.25.png", "c_1700000000.75.png"}) {
    WriteDummyImage(timed / name);
  }
  names.clear();
  for (const RunFrame& f : LoadRun(timed).frames) names.push_back(f.image.filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"c_1700000000.75.png", "b_1700000001.5.png",
                                             "a_1700000002.25.png"}));
}

TEST(Run, TimestampFromFileName) {
  EXPECT_NEAR(*TimestampFromFileName("1305031102.175304.png"), 1305031102.175304, 1e-6);
  EXPECT_NEAR(*TimestampFromFileName("s0_1341847981.726650_v0.png"), 1341847981.72665, 1e-6);
  EXPECT_NEAR(*TimestampFromFileName("frame_1690000000123456789.jpg"), 1690000000123456789.0, 1e3);
  EXPECT_FALSE(TimestampFromFileName("img_0001.png").has_value());  // a counter, not a time
  EXPECT_FALSE(TimestampFromFileName("kitchen.png").has_value());
}

TEST(Run, TumTrajectoryMatchesNearestTimestampWithinTolerance) {
  const fs::path dir = testing::MakeTempDir("run_tum");
  WriteDummyImage(dir / "100.000000.png");
  WriteDummyImage(dir / "101.000000.png");
  WriteDummyImage(dir / "105.000000.png");  // no pose within tolerance
  WriteText(dir / "groundtruth.txt",
            "# ground truth trajectory\n"
            "# timestamp tx ty tz qx qy qz qw\n"
            "100.0150 1 2 3 0 0 0 1\n"
            "99.9900 4 5 6 0 0 0 1\n"  // nearer to 100.0 than 100.015; out of order on purpose
            "100.9950 7 8 9 0 0 0.7071068 0.7071068\n"
            "104.9000 0 0 0 0 0 0 1\n");
  const retrieval::Run run = LoadRun(dir);
  EXPECT_EQ(run.pose_source, PoseSource::kTumTrajectory);
  ASSERT_EQ(run.frames.size(), 3u);
  ASSERT_TRUE(run.frames[0].pose.has_value());
  EXPECT_EQ(run.frames[0].pose->position, Eigen::Vector3d(4, 5, 6));
  ASSERT_TRUE(run.frames[1].pose.has_value());
  EXPECT_EQ(run.frames[1].pose->position, Eigen::Vector3d(7, 8, 9));
  EXPECT_NEAR(AngleBetweenDeg(run.frames[1].pose->orientation, Eigen::Quaterniond::Identity()),
              90.0, 1e-4);
  EXPECT_FALSE(run.frames[2].pose.has_value());  // 0.1 s away > 0.02 s tolerance
  EXPECT_EQ(run.NumPosed(), 2);

  RunOptions loose;
  loose.timestamp_tolerance_s = 0.2;
  EXPECT_TRUE(LoadRun(dir, loose).frames[2].pose.has_value());
}

TEST(Run, NoPoseFileAndPosesNone) {
  const fs::path dir = testing::MakeTempDir("run_none");
  WriteDummyImage(dir / "a.png");
  WriteDummyImage(dir / "b.png");
  retrieval::Run run = LoadRun(dir);
  EXPECT_EQ(run.pose_source, PoseSource::kNone);
  EXPECT_EQ(run.NumPosed(), 0);
  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,1,2,3,0,0,0,1\n");
  run = LoadRun(dir);
  EXPECT_EQ(run.NumPosed(), 1);
  EXPECT_FALSE(run.frames[1].pose.has_value());  // b.png is not listed: no pose, no error
  RunOptions none;
  none.poses = "none";
  EXPECT_EQ(LoadRun(dir, none).NumPosed(), 0);
}

TEST(Run, ClearErrors) {
  const fs::path dir = testing::MakeTempDir("run_errors");
  ExpectLoadError(dir / "missing", {"missing", "does not exist"});
  ExpectLoadError(dir, {"no images"});  // empty folder
  WriteDummyImage(dir / "a.png");
  WriteDummyImage(dir / "b.png");
  const std::string csv = (dir / "poses.csv").string();

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,0,0,0,0,0,1\nc.png,0,0,0,0,0,0,1\n");
  ExpectLoadError(dir, {csv + ":3", "c.png", "does not exist"});

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,zero,0,0,0,0,1\n");
  ExpectLoadError(dir, {csv + ":2", "column y", "zero"});

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,0,0,0,0,1\n");
  ExpectLoadError(dir, {csv + ":2", "8 comma-separated fields, got 7"});

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,0,0,0,0,0,1.1\n");
  ExpectLoadError(dir, {csv + ":2", "not unit", "1.1"});

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,0,0,0,0,0,1\na.png,1,0,0,0,0,0,1\n");
  ExpectLoadError(dir, {csv + ":3", "listed twice"});

  WriteText(dir / "poses.csv", "name,x,y,z\na.png,0,0,0\n");
  ExpectLoadError(dir, {csv + ":1", "header"});

  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,nan,0,0,0,0,0,1\n");
  ExpectLoadError(dir, {csv + ":2", "finite"});

  // Within tolerance a quaternion is accepted and normalised.
  WriteText(dir / "poses.csv", std::string(kHeader) + "a.png,0,0,0,0,0,0,1.0005\r\n");
  const retrieval::Run run = LoadRun(dir);
  EXPECT_NEAR(run.frames[0].pose->orientation.norm(), 1.0, 1e-12);

  // TUM: images need a timestamp in their name.
  const fs::path tum_dir = testing::MakeTempDir("run_errors_tum");
  WriteDummyImage(tum_dir / "kitchen.png");
  WriteText(tum_dir / "trajectory.txt", "1.0 0 0 0 0 0 0 1\n");
  ExpectLoadError(tum_dir, {"kitchen.png", "no timestamp"});
  WriteText(tum_dir / "trajectory.txt", "1.0 0 0 0 0 0 1\n");
  ExpectLoadError(tum_dir, {"trajectory.txt:1", "8 space-separated fields"});

  RunOptions bad;
  bad.poses = "gps";
  ExpectLoadError(dir, {"option poses"}, bad);
}

TEST(Run, AngleBetween) {
  const Eigen::Quaterniond q(Eigen::AngleAxisd(0.5, Eigen::Vector3d(1, 2, 3).normalized()));
  EXPECT_NEAR(AngleBetweenDeg(q, q), 0.0, 1e-6);
  const Eigen::Quaterniond minus_q(-q.w(), -q.x(), -q.y(), -q.z());  // same rotation
  EXPECT_NEAR(AngleBetweenDeg(q, minus_q), 0.0, 1e-6);
  const Eigen::Quaterniond r = q * Eigen::Quaterniond(Eigen::AngleAxisd(M_PI / 3, Eigen::Vector3d::UnitY()));
  EXPECT_NEAR(AngleBetweenDeg(q, r), 60.0, 1e-9);
  const Eigen::Quaterniond flip(Eigen::AngleAxisd(M_PI, Eigen::Vector3d::UnitX()));
  EXPECT_NEAR(AngleBetweenDeg(Eigen::Quaterniond::Identity(), flip), 180.0, 1e-6);
}

}  // namespace
}  // namespace vigil::retrieval
