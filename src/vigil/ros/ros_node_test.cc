// vigil_node and vigil_collector against a real roscore (started here on a free loopback port).
// The test process plays a bag written from ../shared/data/changes-freiburg through the ROS C++
// API and listens to the nodes' outputs; the expected results come from RunInspection on the
// same bag extracted by ExtractBagToRun, i.e. what `vigil inspect` writes for that run.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nav_msgs/Odometry.h>
#include <sensor_msgs/Image.h>
#include <std_msgs/String.h>
#include <std_msgs/UInt64.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <visualization_msgs/MarkerArray.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <ros/ros.h>
#include <rosbag/bag.h>
#include <rosbag/view.h>

#include "vigil/inspection/inspector.h"
#include "vigil/retrieval/run.h"
#include "vigil/ros/bag_run.h"
#include "vigil/map/map_builder.h"
#include "vigil/ros/ros_test_util.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::ros {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::ChildProcess;
using testing::RosMaster;
using testing::WaitFor;
using namespace std::chrono_literals;

fs::path FreiburgDir() { return vigil::testing::DataDir() / "changes-freiburg"; }

// A query run of three frames (three different times, one of each change variant) + its bag.
struct QueryBag {
  fs::path run_dir;
  fs::path bag;
  std::vector<std::string> names;  // names of the frames in the extracted run
};

QueryBag MakeQueryBag(const fs::path& dir) {
  const retrieval::Run query = retrieval::LoadRun(FreiburgDir() / "query");
  QueryBag out;
  out.run_dir = dir / "query3";
  fs::create_directories(out.run_dir);
  std::string csv = "image,x,y,z,qx,qy,qz,qw\n";
  std::ifstream in(FreiburgDir() / "query" / "poses.csv");
  std::string line;
  std::vector<std::string> chosen;
  for (size_t i : {0u, 4u, 8u}) chosen.push_back(query.frames.at(i).image.filename().string());
  while (std::getline(in, line)) {
    for (const std::string& name : chosen) {
      if (line.rfind(name + ",", 0) == 0) csv += line + "\n";
    }
  }
  for (const std::string& name : chosen) {
    fs::copy_file(FreiburgDir() / "query" / name, out.run_dir / name);
  }
  WriteTextFileAtomically(out.run_dir / "poses.csv", csv);
  const retrieval::Run run = retrieval::LoadRun(out.run_dir);
  EXPECT_EQ(run.NumPosed(), 3);
  out.bag = dir / "query3.bag";
  WriteRunToBag(run, out.bag);
  for (const retrieval::RunFrame& f : run.frames)
    out.names.push_back(ImageNameForStamp(*f.timestamp));
  return out;
}

// Runs a shell command; returns its exit status and output.
std::pair<int, std::string> Shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

InspectorOptions FastOptions() {
  InspectorOptions o;
  o.extractor.type = "sift";
  o.extractor.num_threads = 1;
  o.matcher.type = "nn";
  o.matcher.num_threads = 1;
  o.segmenter.type = "graph";
  o.segmenter.num_threads = 1;
  o.show_progress = false;
  o.resume = false;
  o.write_panels = false;
  return o;
}

std::vector<std::string> NodeArgs(const std::string& ns, const fs::path& reference) {
  return {VIGIL_NODE_PATH,
          "__ns:=/" + ns,
          "_reference:=" + reference.string(),
          "_extractor:=sift",
          "_matcher:=nn",
          "_segmenter:=graph",
          "_threads:=1",
          "_image_topic:=camera/image_raw",
          "_pose_topic:=odom"};
}

// Plays image + odometry pairs to /<ns>/... and collects /<ns>/vigil_node/anomalies.
class Player {
 public:
  explicit Player(const std::string& ns) {
    ::ros::NodeHandle nh;
    image_pub_ = nh.advertise<sensor_msgs::Image>("/" + ns + "/camera/image_raw", 100);
    odom_pub_ = nh.advertise<nav_msgs::Odometry>("/" + ns + "/odom", 100);
    sub_ = nh.subscribe<std_msgs::String>("/" + ns + "/vigil_node/anomalies", 100,
                                          [this](const std_msgs::StringConstPtr& msg) {
                                            std::lock_guard<std::mutex> lock(mutex_);
                                            received_.push_back(json::parse(msg->data));
                                          });
    marker_sub_ = nh.subscribe<visualization_msgs::MarkerArray>(
        "/" + ns + "/vigil_node/markers", 100,
        [this](const visualization_msgs::MarkerArrayConstPtr& msg) {
          std::lock_guard<std::mutex> lock(mutex_);
          markers_.push_back(*msg);
        });
    dropped_sub_ = nh.subscribe<std_msgs::UInt64>(
        "/" + ns + "/vigil_node/dropped_frames", 10,
        [this](const std_msgs::UInt64ConstPtr& msg) { dropped_ = msg->data; });
  }
  // Waits until the node subscribed to our topics and we to its results.
  bool Connect(std::chrono::milliseconds timeout = 60s, bool with_pose = true) {
    return WaitFor(
        [&] {
          return image_pub_.getNumSubscribers() > 0 &&
                 (!with_pose || odom_pub_.getNumSubscribers() > 0) && sub_.getNumPublishers() > 0;
        },
        timeout);
  }
  void PublishImage(const sensor_msgs::Image& image) { image_pub_.publish(image); }
  void Publish(const sensor_msgs::Image& image, const nav_msgs::Odometry& odom) {
    odom_pub_.publish(odom);
    image_pub_.publish(image);
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_.size();
  }
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout = 120s) {
    return WaitFor([&] { return Count() >= n; }, timeout);
  }
  std::vector<json> Received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  uint64_t dropped() const { return dropped_.load(); }
  std::vector<visualization_msgs::MarkerArray> Markers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return markers_;
  }

 private:
  ::ros::Publisher image_pub_, odom_pub_;
  ::ros::Subscriber sub_, dropped_sub_, marker_sub_;
  std::mutex mutex_;
  std::vector<json> received_;
  std::vector<visualization_msgs::MarkerArray> markers_;
  std::atomic<uint64_t> dropped_{0};
};

struct BagFrame {
  sensor_msgs::Image image;
  nav_msgs::Odometry odom;
};

std::vector<BagFrame> ReadFrames(const fs::path& bag_path) {
  rosbag::Bag bag(bag_path.string(), rosbag::bagmode::Read);
  rosbag::View view(bag);
  std::vector<BagFrame> frames;
  std::map<double, nav_msgs::Odometry> odoms;
  for (const rosbag::MessageInstance& m : view) {
    if (auto image = m.instantiate<sensor_msgs::Image>()) frames.push_back({*image, {}});
    if (auto odom = m.instantiate<nav_msgs::Odometry>()) odoms[odom->header.stamp.toSec()] = *odom;
  }
  for (BagFrame& f : frames) f.odom = odoms.at(f.image.header.stamp.toSec());
  return frames;
}

// Publishes frames one at a time, each after the node answered the previous one (lockstep, so
// that nothing is dropped). Returns false on a timeout.
bool PlayLockstep(Player& player, const std::vector<BagFrame>& frames) {
  for (const BagFrame& f : frames) {
    const size_t before = player.Count();
    player.Publish(f.image, f.odom);
    if (!player.WaitForCount(before + 1)) return false;
  }
  return true;
}

class RosNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(FreiburgDir() / "query" / "poses.csv")) return;
    dir_ = new fs::path(vigil::testing::MakeTempDir("ros_node"));
    master_ = new RosMaster(*dir_ / "ros");
    for (const auto& [key, value] : master_->Environment()) ::setenv(key.c_str(), value.c_str(), 1);
    int argc = 1;
    char name[] = "vigil_ros_test";
    char* argv[] = {name, nullptr};
    ::ros::init(argc, argv, "vigil_ros_test",
                ::ros::init_options::NoSigintHandler | ::ros::init_options::AnonymousName);
    ::ros::start();
    spinner_ = new ::ros::AsyncSpinner(2);
    spinner_->start();
    query_ = new QueryBag(MakeQueryBag(*dir_));
  }
  static void TearDownTestSuite() {
    if (spinner_) spinner_->stop();
    ::ros::shutdown();
    delete spinner_;
    delete master_;  // stops roscore
    delete query_;
    spinner_ = nullptr;
    master_ = nullptr;
    query_ = nullptr;
  }
  void SetUp() override {
    VIGIL_REQUIRE_FILE(FreiburgDir() / "query" / "poses.csv");
    ASSERT_TRUE(master_ && master_->process().Running()) << "roscore is not running";
  }
  std::unique_ptr<ChildProcess> StartNode(const std::string& ns,
                                          std::vector<std::string> extra = {}) {
    std::vector<std::string> args = NodeArgs(ns, FreiburgDir() / "reference");
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(args, master_->Environment(),
                                          *dir_ / ("node_" + ns + ".log"));
  }
  // The expected results: `vigil inspect` (RunInspection) on the query bag extracted to a run
  // folder, written to <dir>/<name>.
  static fs::path InspectExtractedBag(const std::string& name) {
    const fs::path extracted = *dir_ / (name + "_run");
    BagExtractOptions extract;
    extract.image_topic = "/camera/image_raw";
    extract.pose_topic = "/odom";
    ExtractBagToRun(query_->bag, extracted, extract);
    const fs::path out = *dir_ / name;
    RunInspection(FreiburgDir() / "reference", extracted, out, FastOptions());
    return out;
  }
  static fs::path* dir_;
  static RosMaster* master_;
  static ::ros::AsyncSpinner* spinner_;
  static QueryBag* query_;
};
fs::path* RosNodeTest::dir_ = nullptr;
RosMaster* RosNodeTest::master_ = nullptr;
::ros::AsyncSpinner* RosNodeTest::spinner_ = nullptr;
QueryBag* RosNodeTest::query_ = nullptr;

TEST_F(RosNodeTest, NodeOnPlayedBagPublishesTheSameAnomaliesAsInspect) {
  const fs::path inspect_out = InspectExtractedBag("inspect");

  auto node = StartNode("robot1");
  Player player("robot1");
  ASSERT_TRUE(player.Connect()) << node->Log();
  ASSERT_TRUE(PlayLockstep(player, ReadFrames(query_->bag))) << node->Log();
  const std::vector<json> got = player.Received();
  ASSERT_EQ(got.size(), query_->names.size());
  int total_anomalies = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string& name = query_->names[i];
    SCOPED_TRACE(name);
    const json expected =
        json::parse(ReadFileToString(inspect_out / (fs::path(name).stem().string() + ".json")));
    ASSERT_FALSE(got[i].contains("error")) << got[i].dump();
    EXPECT_EQ(got[i]["query"], name);
    EXPECT_EQ(got[i]["robot"], "robot1");
    EXPECT_EQ(got[i]["reference"]["image"], expected["reference"]["image"]);
    const json& a = got[i]["anomalies"];
    const json& b = expected["anomalies"];
    ASSERT_EQ(a.size(), b.size()) << got[i]["anomalies"].dump() << "\nvs\n" << b.dump();
    total_anomalies += static_cast<int>(b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k]["kind"], b[k]["kind"]);
      for (int c = 0; c < 4; ++c) {
        EXPECT_LE(std::abs(a[k]["bbox"][c].get<double>() - b[k]["bbox"][c].get<double>()), 1.0)
            << "anomaly " << k << " bbox " << a[k]["bbox"].dump() << " vs " << b[k]["bbox"].dump();
      }
    }
  }
  // The comparison means something only when changes were found.
  EXPECT_GT(total_anomalies, 0);
  // One marker array (box + label) per frame with a change, at that frame's odometry pose.
  const std::vector<BagFrame> frames = ReadFrames(query_->bag);
  std::vector<size_t> changed;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i]["anomalies"].empty()) changed.push_back(i);
  }
  ASSERT_TRUE(WaitFor([&] { return player.Markers().size() >= changed.size(); }, 10s));
  const std::vector<visualization_msgs::MarkerArray> markers = player.Markers();
  ASSERT_EQ(markers.size(), changed.size());
  for (size_t m = 0; m < markers.size(); ++m) {
    const nav_msgs::Odometry& odom = frames[changed[m]].odom;
    ASSERT_EQ(markers[m].markers.size(), 2u);
    const visualization_msgs::Marker& box = markers[m].markers[0];
    EXPECT_EQ(box.type, visualization_msgs::Marker::CUBE);
    EXPECT_EQ(box.header.frame_id, odom.header.frame_id);
    EXPECT_NEAR(box.pose.position.x, odom.pose.pose.position.x, 1e-9);
    EXPECT_NEAR(box.pose.position.y, odom.pose.pose.position.y, 1e-9);
    EXPECT_EQ(markers[m].markers[1].type, visualization_msgs::Marker::TEXT_VIEW_FACING);
    EXPECT_NE(
        markers[m].markers[1].text.find(got[changed[m]]["anomalies"][0]["kind"].get<std::string>()),
        std::string::npos);
  }
  EXPECT_TRUE(node->Running()) << node->Log();
  EXPECT_EQ(node->Stop(), 0) << node->Log();
}

TEST_F(RosNodeTest, TwoNamespacedNodesAndTheCollectorReportBothRobots) {
  auto node1 = StartNode("robot1");
  auto node2 = StartNode("robot2");
  const fs::path report = *dir_ / "collected";
  ChildProcess collector({VIGIL_COLLECTOR_PATH, "_robots:=robot1,robot2",
                          "_out_dir:=" + report.string(), "_write_period:=0"},
                         master_->Environment(), *dir_ / "collector.log");
  Player p1("robot1"), p2("robot2");
  ASSERT_TRUE(p1.Connect()) << node1->Log();
  ASSERT_TRUE(p2.Connect()) << node2->Log();
  const std::vector<BagFrame> frames = ReadFrames(query_->bag);
  // Wait for the collector's subscriptions before playing.
  ASSERT_TRUE(WaitFor([&] { return fs::exists(report / "report.html"); }, 30s)) << collector.Log();
  std::this_thread::sleep_for(1s);
  bool ok1 = false, ok2 = false;
  std::thread t1([&] { ok1 = PlayLockstep(p1, {frames[0], frames[1]}); });
  std::thread t2([&] { ok2 = PlayLockstep(p2, {frames[2]}); });
  t1.join();
  t2.join();
  ASSERT_TRUE(ok1) << node1->Log();
  ASSERT_TRUE(ok2) << node2->Log();
  const auto has_both = [&] {
    try {
      const std::string html = ReadFileToString(report / "report.html");
      return html.find("robot1__" + fs::path(query_->names[1]).stem().string()) !=
                 std::string::npos &&
             html.find("robot2__" + fs::path(query_->names[2]).stem().string()) !=
                 std::string::npos;
    } catch (const std::exception&) {
      return false;
    }
  };
  EXPECT_TRUE(WaitFor(has_both, 30s)) << collector.Log();
  EXPECT_EQ(collector.Stop(), 0) << collector.Log();
  EXPECT_TRUE(has_both());
  for (const std::string& f : {"robot1__" + query_->names[0], "robot1__" + query_->names[1],
                               "robot2__" + query_->names[2]}) {
    const fs::path file = report / (fs::path(f).stem().string() + ".json");
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(json::parse(ReadFileToString(file))["robot"], f.substr(0, 6));
    EXPECT_TRUE(fs::exists(report / "panels" / (fs::path(f).stem().string() + ".png"))) << f;
  }
}

TEST_F(RosNodeTest, NodeDropsFramesWhenFloodedSaysSoAndKeepsRunning) {
  auto node = StartNode("robot3");
  Player player("robot3");
  ASSERT_TRUE(player.Connect()) << node->Log();
  const std::vector<BagFrame> frames = ReadFrames(query_->bag);
  constexpr int kFlood = 12;
  for (int i = 0; i < kFlood; ++i) {
    BagFrame f = frames[i % frames.size()];
    f.image.header.stamp = f.odom.header.stamp = ::ros::Time(2000 + 0.05 * i);
    player.Publish(f.image, f.odom);
    std::this_thread::sleep_for(20ms);
  }
  // Wait until the node is quiet for 3 s.
  size_t last = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(3s);
    if (player.Count() == last && last > 0) break;
    last = player.Count();
  }
  const size_t processed = player.Count();
  std::printf("flood: %d frames published 20 ms apart, %zu inspected, %llu dropped\n", kFlood,
              processed, static_cast<unsigned long long>(player.dropped()));
  EXPECT_GE(processed, 1u);
  EXPECT_LT(processed, static_cast<size_t>(kFlood));
  EXPECT_GT(player.dropped(), 0u);
  EXPECT_LE(processed + player.dropped(), static_cast<size_t>(kFlood));
  EXPECT_EQ(player.Received().back()["dropped_frames"].get<uint64_t>(), player.dropped());
  EXPECT_NE(node->Log().find("dropped a frame"), std::string::npos) << node->Log();
  ASSERT_TRUE(node->Running());

  // A frame it cannot read: an error result, and the node goes on.
  BagFrame bad = frames[0];
  bad.image.encoding = "32FC1";
  bad.image.header.stamp = bad.odom.header.stamp = ::ros::Time(3000);
  ASSERT_TRUE(PlayLockstep(player, {bad}));
  EXPECT_NE(player.Received().back().value("error", std::string()).find("32FC1"), std::string::npos)
      << player.Received().back().dump();
  BagFrame good = frames[1];
  good.image.header.stamp = good.odom.header.stamp = ::ros::Time(3001);
  ASSERT_TRUE(PlayLockstep(player, {good}));
  EXPECT_FALSE(player.Received().back().contains("error"));
  EXPECT_TRUE(node->Running());
}

TEST_F(RosNodeTest, LaunchFileStartsANodeInTheRobotNamespace) {
  if (Shell("command -v roslaunch").first != 0) GTEST_SKIP() << "roslaunch is not installed";
  std::map<std::string, std::string> env = master_->Environment();
  env["ROS_PACKAGE_PATH"] = VIGIL_ROS_PACKAGE_PATH;
  ChildProcess launch({"roslaunch", "vigil", "vigil_node.launch", "robot:=robot5",
                       "reference:=" + (FreiburgDir() / "reference").string(), "extractor:=sift",
                       "segmenter:=graph", "threads:=1"},
                      env, *dir_ / "roslaunch.log");
  Player player("robot5");
  ASSERT_TRUE(player.Connect()) << launch.Log();
  ASSERT_TRUE(PlayLockstep(player, {ReadFrames(query_->bag).at(0)})) << launch.Log();
  EXPECT_EQ(player.Received().at(0)["query"], query_->names[0]);
  EXPECT_EQ(player.Received().at(0)["robot"], "robot5");
  EXPECT_EQ(launch.Stop(), 0) << launch.Log();
}

TEST_F(RosNodeTest, ImagesWithoutAPoseAreSkippedAndTheNodeRecovers) {
  auto node = StartNode("robot4");
  Player player("robot4");
  ASSERT_TRUE(player.Connect()) << node->Log();
  const std::vector<BagFrame> frames = ReadFrames(query_->bag);
  // A gap in the pose stream: two images with no odometry near them (farther than sync_slop).
  for (int i = 0; i < 2; ++i) {
    sensor_msgs::Image image = frames[i].image;
    image.header.stamp = ::ros::Time(4000 + i);
    nav_msgs::Odometry far = frames[i].odom;
    far.header.stamp = ::ros::Time(3990 + i);  // 10 s away
    player.Publish(image, far);
    std::this_thread::sleep_for(200ms);
  }
  BagFrame good = frames[2];
  good.image.header.stamp = good.odom.header.stamp = ::ros::Time(4002);
  ASSERT_TRUE(PlayLockstep(player, {good})) << node->Log();
  std::this_thread::sleep_for(1s);
  const std::vector<json> got = player.Received();
  ASSERT_EQ(got.size(), 1u) << "frames without a pose must not be inspected";
  EXPECT_EQ(got[0]["query"], ImageNameForStamp(4002));
  EXPECT_FALSE(got[0].contains("error")) << got[0].dump();
  EXPECT_TRUE(node->Running());
}

TEST_F(RosNodeTest, WithoutAPoseSourceEveryImageIsInspectedByAppearance) {
  auto node = StartNode("robot6", {"_pose_type:=none"});
  Player player("robot6");
  ASSERT_TRUE(player.Connect(60s, /*with_pose=*/false)) << node->Log();
  const BagFrame frame = ReadFrames(query_->bag).at(0);
  player.PublishImage(frame.image);
  ASSERT_TRUE(player.WaitForCount(1)) << node->Log();
  const json doc = player.Received().at(0);
  EXPECT_EQ(doc["query"], query_->names[0]);
  EXPECT_EQ(doc["reference"]["rule"], "appearance") << doc["reference"].dump();
  EXPECT_FALSE(doc.contains("error")) << doc.dump();
}

// ~map instead of ~reference: the node reads the reference side from a map file and publishes
// what `vigil inspect` on the reference folder finds.
TEST_F(RosNodeTest, NodeWithAMapPublishesWhatInspectFindsOnTheFolder) {
  const fs::path inspect_out = InspectExtractedBag("inspect_for_map");
  map::MapBuildOptions build;
  build.extractor = FastOptions().extractor;
  const fs::path site = *dir_ / "site.vmap";
  map::BuildMap(FreiburgDir() / "reference", site, build);

  std::vector<std::string> args = NodeArgs("robot7", FreiburgDir() / "reference");
  args[2] = "_map:=" + site.string();  // in place of _reference
  ChildProcess node(args, master_->Environment(), *dir_ / "node_robot7.log");
  Player player("robot7");
  ASSERT_TRUE(player.Connect()) << node.Log();
  ASSERT_TRUE(PlayLockstep(player, ReadFrames(query_->bag))) << node.Log();
  const std::vector<json> got = player.Received();
  ASSERT_EQ(got.size(), query_->names.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string& name = query_->names[i];
    SCOPED_TRACE(name);
    const json expected =
        json::parse(ReadFileToString(inspect_out / (fs::path(name).stem().string() + ".json")));
    ASSERT_FALSE(got[i].contains("error")) << got[i].dump();
    EXPECT_EQ(got[i]["reference"]["image"], expected["reference"]["image"]);
    EXPECT_EQ(got[i]["anomalies"].size(), expected["anomalies"].size());
  }
  EXPECT_EQ(node.Stop(), 0) << node.Log();
}

TEST_F(RosNodeTest, NodeExitsWithAClearMessageOnBadParameters) {
  ChildProcess node({VIGIL_NODE_PATH, "__ns:=/bad", "_reference:=/nonexistent/run"},
                    master_->Environment(), *dir_ / "node_bad.log");
  ASSERT_TRUE(WaitFor([&] { return !node.Running(); }, 30s));
  EXPECT_EQ(node.Stop(), 1);
  EXPECT_NE(node.Log().find("/nonexistent/run"), std::string::npos) << node.Log();
  ChildProcess node2({VIGIL_NODE_PATH, "__ns:=/bad2", "_reference:=/tmp", "_pose_type:=gps"},
                     master_->Environment(), *dir_ / "node_bad2.log");
  ASSERT_TRUE(WaitFor([&] { return !node2.Running(); }, 30s));
  EXPECT_NE(node2.Log().find("pose_type"), std::string::npos) << node2.Log();
}

}  // namespace
}  // namespace vigil::ros

namespace vigil::ros {
namespace {

// `vigil bag-extract` and `vigil inspect` on bags, through the CLI.
TEST(RosCli, BagExtractAndInspectTakeBags) {
  VIGIL_REQUIRE_FILE(FreiburgDir() / "query" / "poses.csv");
  const fs::path dir = vigil::testing::MakeTempDir("ros_cli");
  const QueryBag query = MakeQueryBag(dir);
  WriteRunToBag(retrieval::LoadRun(FreiburgDir() / "reference"), dir / "reference.bag");
  const std::string vigil = VIGIL_CLI_PATH;
  auto [rc, output] = Shell(vigil + " bag-extract " + query.bag.string() +
                            " --image-topic camera/image_raw --pose-topic odom --quiet --out " +
                            (dir / "run").string());
  ASSERT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("wrote 3 images"), std::string::npos) << output;
  EXPECT_EQ(retrieval::LoadRun(dir / "run").NumPosed(), 3);
  std::tie(rc, output) =
      Shell(vigil + " bag-extract " + query.bag.string() +
            " --image-topic /nope --pose-topic odom --out " + (dir / "run2").string());
  EXPECT_EQ(rc, 1) << output;
  EXPECT_NE(output.find("no image topic /nope"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir / "run2"));

  // inspect on the two bags = inspect on the extracted run (same options).
  const std::string common =
      " --image-topic /camera/image_raw --pose-topic /odom --extractor sift --threads 1"
      " --segmenter graph --no-panels --quiet";
  std::tie(rc, output) =
      Shell(vigil + " inspect --reference " + (dir / "reference.bag").string() + " --query " +
            query.bag.string() + common + " --out " + (dir / "from_bags").string());
  ASSERT_EQ(rc, 0) << output;
  std::tie(rc, output) =
      Shell(vigil + " inspect --reference " + (FreiburgDir() / "reference").string() + " --query " +
            (dir / "run").string() + common + " --out " + (dir / "from_run").string());
  ASSERT_EQ(rc, 0) << output;
  for (const std::string& name : query.names) {
    const std::string stem = fs::path(name).stem().string() + ".json";
    const json a = json::parse(ReadFileToString(dir / "from_bags" / stem));
    const json b = json::parse(ReadFileToString(dir / "from_run" / stem));
    EXPECT_EQ(a["anomalies"].size(), b["anomalies"].size()) << name;
    EXPECT_EQ(
        a["reference"]["image"].get<std::string>().substr(0, 10),
        ImageNameForStamp(
            retrieval::TimestampFromFileName(b["reference"]["image"].get<std::string>()).value())
            .substr(0, 10))
        << name;
  }
  // calibrate --images BAG: the bag's images, each paired with itself shifted.
  std::tie(rc, output) = Shell(vigil + " calibrate --images " + query.bag.string() +
                               " --image-topic /camera/image_raw --extractor sift --quiet --out " +
                               (dir / "cal").string());
  ASSERT_EQ(rc, 0) << output;
  EXPECT_TRUE(fs::exists(dir / "cal" / "calibration.json"));
  EXPECT_NE(output.find("3 pair(s)"), std::string::npos) << output;
  // A bag without --image-topic: a clear message.
  std::tie(rc, output) = Shell(vigil + " inspect --reference " + (dir / "reference.bag").string() +
                               " --query " + query.bag.string() + " --out " + (dir / "x").string());
  EXPECT_EQ(rc, 1) << output;
  EXPECT_NE(output.find("--image-topic"), std::string::npos) << output;
}

// Not a test on its own: the two-host test runs this binary again inside a network namespace
// with --gtest_filter=RosHelper.PlayAndListen and VIGIL_ROS_HELPER_* set. It plays a bag to a
// node in lockstep and writes the node's results (one JSON per line) to VIGIL_ROS_HELPER_OUT.
TEST(RosHelper, PlayAndListen) {
  const char* bag = std::getenv("VIGIL_ROS_HELPER_BAG");
  const char* ns = std::getenv("VIGIL_ROS_HELPER_NS");
  const char* out = std::getenv("VIGIL_ROS_HELPER_OUT");
  if (!bag || !ns || !out) GTEST_SKIP() << "helper of RosTwoHost (runs only when started by it)";
  int argc = 1;
  char name[] = "vigil_ros_helper";
  char* argv[] = {name, nullptr};
  ::ros::init(argc, argv, "vigil_ros_helper", ::ros::init_options::NoSigintHandler);
  ::ros::AsyncSpinner spinner(2);
  spinner.start();
  {
    Player player(ns);
    ASSERT_TRUE(player.Connect(90s)) << "the node did not connect";
    std::vector<BagFrame> frames = ReadFrames(bag);
    frames.resize(1);
    ASSERT_TRUE(PlayLockstep(player, frames));
    std::string lines;
    for (const json& doc : player.Received()) lines += doc.dump() + "\n";
    WriteTextFileAtomically(out, lines);
  }
  spinner.stop();
  ::ros::shutdown();
}

// Two "hosts": network namespaces A (roscore + the test's player) and B (vigil_node), joined by
// a veth pair with their own addresses; the node reaches the master only over the veth link,
// with ROS_MASTER_URI and ROS_IP as on two machines.
TEST(RosTwoHost, NodeInAnotherNetworkNamespaceServesThePlayerThroughTheMaster) {
  VIGIL_REQUIRE_FILE(FreiburgDir() / "query" / "poses.csv");
  const int id = static_cast<int>(::getpid() % 100000);
  const std::string a = fmt::format("vigil_a{}", id), b = fmt::format("vigil_b{}", id);
  const std::string va = fmt::format("vga{}", id), vb = fmt::format("vgb{}", id);
  const int subnet = 20 + id % 200;
  const std::string ip_a = fmt::format("10.213.{}.1", subnet),
                    ip_b = fmt::format("10.213.{}.2", subnet);
  const auto [rc, why] = Shell("ip netns add " + a);
  if (rc != 0) {
    GTEST_SKIP() << "cannot create network namespaces here (needs root / CAP_SYS_ADMIN and "
                    "iproute2): "
                 << why;
  }
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      Shell("ip netns del " + a);
      Shell("ip netns del " + b);  // removes the veth pair with it
    }
  } cleanup{a, b};
  for (const std::string& command :
       {"ip netns add " + b, "ip link add " + va + " type veth peer name " + vb,
        "ip link set " + va + " netns " + a, "ip link set " + vb + " netns " + b,
        "ip -n " + a + " addr add " + ip_a + "/24 dev " + va,
        "ip -n " + b + " addr add " + ip_b + "/24 dev " + vb,
        "ip -n " + a + " link set " + va + " up", "ip -n " + b + " link set " + vb + " up",
        "ip -n " + a + " link set lo up", "ip -n " + b + " link set lo up"}) {
    const auto [status, output] = Shell(command);
    if (status != 0) GTEST_SKIP() << "cannot set up the veth link (" << command << "): " << output;
  }
  const fs::path dir = vigil::testing::MakeTempDir("ros_twohost");
  const QueryBag query = MakeQueryBag(dir);
  RosMaster master(dir / "ros", ip_a, {"ip", "netns", "exec", a});
  ChildProcess node(
      [&] {
        std::vector<std::string> args = {"ip", "netns", "exec", b};
        for (const std::string& arg : NodeArgs("far_robot", FreiburgDir() / "reference")) {
          args.push_back(arg);
        }
        return args;
      }(),
      master.Environment(ip_b), dir / "node.log");
  char self[4096] = {0};
  ASSERT_GT(::readlink("/proc/self/exe", self, sizeof self - 1), 0);
  std::map<std::string, std::string> env = master.Environment(ip_a);
  env["VIGIL_ROS_HELPER_BAG"] = query.bag.string();
  env["VIGIL_ROS_HELPER_NS"] = "far_robot";
  env["VIGIL_ROS_HELPER_OUT"] = (dir / "received.jsonl").string();
  ChildProcess helper({"ip", "netns", "exec", a, self, "--gtest_filter=RosHelper.PlayAndListen"},
                      env, dir / "helper.log");
  ASSERT_TRUE(WaitFor([&] { return !helper.Running(); }, 150s)) << helper.Log() << "\nnode:\n"
                                                                << node.Log();
  EXPECT_EQ(helper.Stop(), 0) << helper.Log() << "\nnode:\n" << node.Log();
  ASSERT_TRUE(fs::exists(dir / "received.jsonl")) << helper.Log();
  const json doc = json::parse(ReadFileToString(dir / "received.jsonl"));
  EXPECT_EQ(doc["query"], query.names[0]);
  EXPECT_EQ(doc["robot"], "far_robot");
  EXPECT_FALSE(doc.contains("error")) << doc.dump();
  EXPECT_TRUE(doc.contains("anomalies"));
  EXPECT_TRUE(node.Running()) << node.Log();
}

}  // namespace
}  // namespace vigil::ros
