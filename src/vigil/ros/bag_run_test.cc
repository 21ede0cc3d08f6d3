#include "vigil/ros/bag_run.h"

#include <cmath>
#include <fstream>
#include <nav_msgs/Odometry.h>
#include <sensor_msgs/Image.h>
#include <tf2_msgs/TFMessage.h>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <rosbag/bag.h>

#include "vigil/io/image_io.h"
#include "vigil/retrieval/run.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::ros {
namespace {
namespace fs = std::filesystem;
using retrieval::Pose;

fs::path ReferenceRun() { return vigil::testing::DataDir() / "changes-freiburg" / "reference"; }

// Expects `f` to throw vigil::Error whose message contains every one of `parts`.
template <typename F>
void ExpectErrorWith(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

sensor_msgs::Image SmallImage(double t, int value) {
  sensor_msgs::Image msg;
  msg.header.stamp = ::ros::Time(t);
  msg.width = 4;
  msg.height = 3;
  msg.encoding = "mono8";
  msg.step = 4;
  msg.data.assign(12, static_cast<uint8_t>(value));
  return msg;
}

nav_msgs::Odometry Odom(double t, double x) {
  nav_msgs::Odometry msg;
  msg.header.stamp = ::ros::Time(t);
  msg.header.frame_id = "map";
  msg.pose.pose.position.x = x;
  msg.pose.pose.orientation.w = 1;
  return msg;
}

TEST(BagRun, InterpolatesPositionLinearlyAndOrientationBySlerp) {
  TimedPose a, b;
  a.time = 10;
  b.time = 11;
  b.pose.position = {2, 4, 0};
  b.pose.orientation = Eigen::Quaterniond(Eigen::AngleAxisd(M_PI / 2, Eigen::Vector3d::UnitZ()));
  const std::vector<TimedPose> samples = {a, b};
  const std::optional<Pose> p = InterpolatePose(samples, 10.25, 0.5 + 1, 0.05);
  ASSERT_TRUE(p);
  EXPECT_NEAR(p->position.x(), 0.5, 1e-12);
  EXPECT_NEAR(p->position.y(), 1.0, 1e-12);
  // A quarter of the way along a 90 degree turn about z: 22.5 degrees about z.
  EXPECT_NEAR(retrieval::AngleBetweenDeg(p->orientation, Eigen::Quaterniond::Identity()), 22.5,
              1e-9);
  EXPECT_NEAR(p->orientation.toRotationMatrix().eulerAngles(0, 1, 2).z(), M_PI / 8, 1e-9);
  // Exactly on a sample.
  EXPECT_NEAR(InterpolatePose(samples, 11, 2, 0)->position.y(), 4, 1e-12);
  // The gap is 1 s: with max gap 0.5 s only the tolerance rule remains.
  EXPECT_FALSE(InterpolatePose(samples, 10.5, 0.5, 0.05));
  EXPECT_NEAR(InterpolatePose(samples, 10.04, 0.5, 0.05)->position.x(), 0, 1e-12);
  EXPECT_NEAR(InterpolatePose(samples, 10.97, 0.5, 0.05)->position.x(), 2, 1e-12);
  // Before the first and after the last sample.
  EXPECT_FALSE(InterpolatePose(samples, 9.9, 2, 0.05));
  EXPECT_NEAR(InterpolatePose(samples, 11.03, 2, 0.05)->position.x(), 2, 1e-12);
  EXPECT_FALSE(InterpolatePose({}, 10, 1, 1));
}

TEST(BagRun, ImageNamesCarryTheStampAndSortByTime) {
  EXPECT_EQ(ImageNameForStamp(1341847981.726650), "1341847981.726650000.png");
  EXPECT_LT(ImageNameForStamp(999.5), ImageNameForStamp(1000.25));
  EXPECT_NEAR(*retrieval::TimestampFromFileName(ImageNameForStamp(1341847981.5)), 1341847981.5,
              1e-6);
}

TEST(BagRun, RawImageEncodings) {
  std::vector<unsigned char> rgb = {10, 20, 30, 40, 50, 60, 0, 0};  // 2 pixels + 2 pad bytes
  cv::Mat bgr = ImageFromRaw("rgb8", 2, 1, 8, false, rgb);
  ASSERT_EQ(bgr.type(), CV_8UC3);
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 1), cv::Vec3b(60, 50, 40));
  std::vector<unsigned char> be16 = {0x01, 0x02};
  EXPECT_EQ(ImageFromRaw("mono16", 1, 1, 2, true, be16).at<uint16_t>(0, 0), 0x0102);
  EXPECT_EQ(ImageFromRaw("mono16", 1, 1, 2, false, be16).at<uint16_t>(0, 0), 0x0201);
  ExpectErrorWith([&] { ImageFromRaw("32FC1", 1, 1, 4, false, rgb); }, {"32FC1"});
  ExpectErrorWith([&] { ImageFromRaw("bgr8", 2, 2, 6, false, rgb); }, {"data bytes"});
  ExpectErrorWith([&] { ImageFromRaw("bgr8", 2, 1, 5, false, rgb); }, {"step 5"});
}

TEST(BagRun, ImageToMsgRoundTrips) {
  cv::Mat bgr(3, 5, CV_8UC3), grey(4, 2, CV_8UC1);
  cv::randu(bgr, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::randu(grey, cv::Scalar::all(0), cv::Scalar::all(255));
  std_msgs::Header header;
  header.frame_id = "cam";
  for (const cv::Mat& image : {bgr, grey}) {
    const sensor_msgs::Image msg = ImageToMsg(image, header);
    EXPECT_EQ(msg.header.frame_id, "cam");
    EXPECT_EQ(msg.encoding, image.channels() == 1 ? "mono8" : "bgr8");
    const cv::Mat back = ImageFromRaw(msg.encoding, static_cast<int>(msg.width),
                                      static_cast<int>(msg.height), static_cast<int>(msg.step),
                                      msg.is_bigendian != 0, msg.data);
    EXPECT_EQ(cv::norm(back, image, cv::NORM_INF), 0.0);
  }
}

// A run written as a bag and extracted again gives the same pixels and the same poses.
void RoundTrip(bool compressed) {
  VIGIL_REQUIRE_FILE(ReferenceRun() / "poses.csv");
  const retrieval::Run run = retrieval::LoadRun(ReferenceRun());
  const fs::path dir = vigil::testing::MakeTempDir(compressed ? "bag_rt_c" : "bag_rt");
  BagWriteOptions write;
  write.compressed = compressed;
  WriteRunToBag(run, dir / "run.bag", write);

  BagExtractOptions extract;
  extract.image_topic = compressed ? "/camera/image_raw/compressed" : "camera/image_raw";
  extract.pose_topic = "odom";
  const BagExtractReport report = ExtractBagToRun(dir / "run.bag", dir / "out", extract);
  EXPECT_EQ(report.num_images, static_cast<int>(run.frames.size()));
  EXPECT_EQ(report.num_written, static_cast<int>(run.frames.size()));
  EXPECT_TRUE(report.unposed.empty()) << report.Summary();
  EXPECT_EQ(report.pose_type, "nav_msgs/Odometry");

  const retrieval::Run back = retrieval::LoadRun(dir / "out");
  ASSERT_EQ(back.frames.size(), run.frames.size());
  EXPECT_EQ(back.pose_source, retrieval::PoseSource::kPosesCsv);
  for (size_t i = 0; i < run.frames.size(); ++i) {
    SCOPED_TRACE(run.frames[i].image.string());
    EXPECT_EQ(back.frames[i].image.filename().string(),
              ImageNameForStamp(*run.frames[i].timestamp));
    const cv::Mat a = io::ReadImage(run.frames[i].image, io::ImageMode::kUnchanged);
    const cv::Mat b = io::ReadImage(back.frames[i].image, io::ImageMode::kUnchanged);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.type(), b.type());
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0) << "pixels differ";
    ASSERT_TRUE(back.frames[i].pose);
    EXPECT_LT((back.frames[i].pose->position - run.frames[i].pose->position).norm(), 1e-9);
    EXPECT_LT(retrieval::AngleBetweenDeg(back.frames[i].pose->orientation,
                                         run.frames[i].pose->orientation),
              1e-6);
  }
}

TEST(BagRun, RawImagesRoundTripBitExactWithPoses) { RoundTrip(false); }
TEST(BagRun, CompressedImagesRoundTripBitExactWithPoses) { RoundTrip(true); }

TEST(BagRun, SubsamplesByDistanceTravelled) {
  VIGIL_REQUIRE_FILE(ReferenceRun() / "poses.csv");
  const retrieval::Run run = retrieval::LoadRun(ReferenceRun());
  const fs::path dir = vigil::testing::MakeTempDir("bag_sub");
  WriteRunToBag(run, dir / "run.bag");
  BagExtractOptions extract;
  extract.image_topic = "/camera/image_raw";
  extract.pose_topic = "/odom";
  extract.min_distance_m = 1.0;  // frames are about 0.6 m apart
  const BagExtractReport report = ExtractBagToRun(dir / "run.bag", dir / "out", extract);
  // Independent count: greedy walk over the run's own poses.
  int expected = 0;
  std::optional<Eigen::Vector3d> last;
  for (const retrieval::RunFrame& f : run.frames) {
    if (!last || (f.pose->position - *last).norm() >= 1.0) {
      ++expected;
      last = f.pose->position;
    }
  }
  EXPECT_GT(expected, 1);
  EXPECT_LT(expected, static_cast<int>(run.frames.size()));
  EXPECT_EQ(report.num_written, expected);
  EXPECT_EQ(report.num_subsampled, static_cast<int>(run.frames.size()) - expected);
  EXPECT_EQ(static_cast<int>(retrieval::LoadRun(dir / "out").frames.size()), expected);
}

TEST(BagRun, PoseGapsLeaveImagesWithoutPoseAndSayWhich) {
  const fs::path dir = vigil::testing::MakeTempDir("bag_gap");
  {
    rosbag::Bag bag(dir.string() + "/gap.bag", rosbag::bagmode::Write);
    for (int i = 0; i < 10; ++i) {
      const double t = 100 + 0.1 * i;
      bag.write("/cam", ::ros::Time(t), SmallImage(t, i));
      // Odometry at 10 Hz with a hole from 100.3 to 100.7 s (> max gap).
      if (i < 3 || i > 7) bag.write("/odom", ::ros::Time(t + 0.01), Odom(t + 0.01, i));
    }
  }
  BagExtractOptions extract;
  extract.image_topic = "/cam";
  extract.pose_topic = "/odom";
  extract.max_pose_gap_s = 0.2;
  extract.pose_tolerance_s = 0.02;
  const BagExtractReport report = ExtractBagToRun(dir / "gap.bag", dir / "out", extract);
  EXPECT_EQ(report.num_images, 10);
  EXPECT_EQ(report.num_poses, 5);
  EXPECT_EQ(report.num_written, 10);
  // Poses at 100.01, .11, .21, then .81, .91. Image 0 (100.0) is within the 0.02 s tolerance
  // of the first; 3..7 (100.3 .. 100.7) lie in the 0.6 s hole, more than 0.02 s from any pose.
  std::vector<std::string> expected;
  for (int i = 3; i <= 7; ++i) expected.push_back(ImageNameForStamp(100 + 0.1 * i));
  EXPECT_EQ(report.unposed, expected);
  EXPECT_NE(report.Summary().find("5 without a pose"), std::string::npos) << report.Summary();
  const retrieval::Run back = retrieval::LoadRun(dir / "out");
  EXPECT_EQ(back.NumPosed(), 5);
  // Image 1 (t = 100.1) lies between poses at 100.01 (x=0) and 100.11 (x=1): x = 0.9.
  ASSERT_TRUE(back.frames[1].pose);
  EXPECT_NEAR(back.frames[1].pose->position.x(), 0.9, 1e-6);
  // skip_unposed drops them.
  extract.skip_unposed = true;
  EXPECT_EQ(ExtractBagToRun(dir / "gap.bag", dir / "out2", extract).num_written, 5);
}

TEST(BagRun, PosesFromTfBetweenNamedFrames) {
  const fs::path dir = vigil::testing::MakeTempDir("bag_tf");
  {
    rosbag::Bag bag(dir.string() + "/tf.bag", rosbag::bagmode::Write);
    for (int i = 0; i < 4; ++i) {
      const double t = 50 + i;
      bag.write("/cam", ::ros::Time(t), SmallImage(t, i));
      tf2_msgs::TFMessage tf;
      geometry_msgs::TransformStamped ts;
      ts.header.stamp = ::ros::Time(t);
      ts.header.frame_id = "map";
      ts.child_frame_id = "base_link";
      ts.transform.translation.y = 2.0 * i;
      ts.transform.rotation.w = 1;
      tf.transforms.push_back(ts);
      ts.child_frame_id = "wheel";  // another transform in the same message: ignored
      ts.transform.translation.y = -7;
      tf.transforms.push_back(ts);
      bag.write("/tf", ::ros::Time(t), tf);
    }
  }
  BagExtractOptions extract;
  extract.image_topic = "/cam";
  extract.tf_fixed_frame = "/map";
  extract.tf_child_frame = "base_link";
  const BagExtractReport report = ExtractBagToRun(dir / "tf.bag", dir / "out", extract);
  EXPECT_EQ(report.num_poses, 4);
  const retrieval::Run back = retrieval::LoadRun(dir / "out");
  ASSERT_EQ(back.frames.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(back.frames[i].pose);
    EXPECT_NEAR(back.frames[i].pose->position.y(), 2.0 * i, 1e-9);
  }
  extract.tf_child_frame = "camera";
  ExpectErrorWith([&] { ExtractBagToRun(dir / "tf.bag", dir / "out3", extract); },
                  {"tf.bag", "map to camera", "map -> base_link", "map -> wheel"});
}

TEST(BagRun, MissingTopicWrongTypeEmptyAndCorruptBagsGiveClearErrors) {
  const fs::path dir = vigil::testing::MakeTempDir("bag_bad");
  {
    rosbag::Bag bag(dir.string() + "/ok.bag", rosbag::bagmode::Write);
    for (int i = 0; i < 3; ++i) {
      bag.write("/cam", ::ros::Time(10 + i), SmallImage(10 + i, i));
      bag.write("/odom", ::ros::Time(10 + i), Odom(10 + i, i));
    }
  }
  { rosbag::Bag bag(dir.string() + "/empty.bag", rosbag::bagmode::Write); }
  BagExtractOptions extract;
  extract.image_topic = "/camera";
  extract.pose_topic = "/odom";
  ExpectErrorWith([&] { ExtractBagToRun(dir / "ok.bag", dir / "out", extract); },
                  {"ok.bag", "no image topic /camera", "/cam (sensor_msgs/Image)",
                   "/odom (nav_msgs/Odometry)"});
  EXPECT_FALSE(fs::exists(dir / "out")) << "a failed extraction left its output folder";
  extract.image_topic = "/cam";
  extract.pose_topic = "/pose";
  ExpectErrorWith([&] { ExtractBagToRun(dir / "ok.bag", dir / "out", extract); },
                  {"no pose topic /pose"});
  extract.pose_topic = "/cam";
  ExpectErrorWith([&] { ExtractBagToRun(dir / "ok.bag", dir / "out", extract); },
                  {"pose topic /cam has type sensor_msgs/Image"});
  extract.pose_topic = "/odom";
  ExpectErrorWith([&] { ExtractBagToRun(dir / "empty.bag", dir / "out", extract); },
                  {"empty.bag", "empty"});
  ExpectErrorWith([&] { ExtractBagToRun(dir / "nope.bag", dir / "out", extract); },
                  {"nope.bag", "does not exist"});
  // Not a bag at all.
  WriteTextFileAtomically(dir / "junk.bag", std::string(5000, 'x'));
  ExpectErrorWith([&] { ExtractBagToRun(dir / "junk.bag", dir / "out", extract); }, {"junk.bag"});
  // A real bag cut in half (its index at the end is gone).
  const std::string bytes = ReadFileToString(dir / "ok.bag");
  WriteTextFileAtomically(dir / "cut.bag", bytes.substr(0, bytes.size() / 2));
  ExpectErrorWith([&] { ExtractBagToRun(dir / "cut.bag", dir / "out", extract); }, {"cut.bag"});
  // A bag with its middle overwritten by garbage.
  std::string garbled = bytes;
  for (size_t i = garbled.size() / 3; i < garbled.size() / 3 + 200; ++i) garbled[i] = '\xff';
  WriteTextFileAtomically(dir / "garbled.bag", garbled);
  try {
    ExtractBagToRun(dir / "garbled.bag", dir / "out_g", extract);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("garbled.bag"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  // A non-empty output folder is refused.
  fs::create_directories(dir / "full");
  WriteTextFileAtomically(dir / "full" / "x.txt", "x");
  ExpectErrorWith([&] { ExtractBagToRun(dir / "ok.bag", dir / "full", extract); },
                  {"full", "not empty"});
  // Bad options name the option.
  extract.tf_fixed_frame = "map";
  ExpectErrorWith([&] { extract.Check(); }, {"pose_topic"});
}

}  // namespace
}  // namespace vigil::ros
