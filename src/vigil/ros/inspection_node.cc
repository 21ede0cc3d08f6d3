#include "vigil/ros/inspection_node.h"

#include <algorithm>
#include <atomic>
#include <geometry_msgs/PoseStamped.h>
#include <map>
#include <message_filters/subscriber.h>
#include <message_filters/sync_policies/approximate_time.h>
#include <message_filters/synchronizer.h>
#include <mutex>
#include <nav_msgs/Odometry.h>
#include <sensor_msgs/Image.h>
#include <sstream>
#include <std_msgs/String.h>
#include <std_msgs/UInt64.h>
#include <thread>
#include <visualization_msgs/MarkerArray.h>

#include <fmt/format.h>
#include <ros/ros.h>

#include "vigil/inspection/panel.h"
#include "vigil/io/image_io.h"
#include "vigil/map/map_store.h"
#include "vigil/report/html_report.h"
#include "vigil/retrieval/run.h"
#include "vigil/ros/bag_run.h"
#include "vigil/ros/frame_mailbox.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/options_fields.h"

namespace vigil::ros {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

template <typename T>
T Param(const ::ros::NodeHandle& pnh, const std::string& name, const T& fallback) {
  T value = fallback;
  if (pnh.hasParam(name) && !pnh.getParam(name, value)) {
    ThrowError(fmt::format("parameter {}: has the wrong type", pnh.resolveName(name)));
  }
  return value;
}

std::string NamespaceName(const std::string& ns) {
  std::string name = ns;
  while (!name.empty() && name.front() == '/') name.erase(name.begin());
  return name.empty() ? "robot" : name;
}

// One frame waiting for the worker.
struct PendingFrame {
  sensor_msgs::ImageConstPtr image;
  std::optional<retrieval::Pose> pose;
  std::string pose_frame;
};

retrieval::Pose PoseFromMsg(const geometry_msgs::Pose& p) {
  retrieval::Pose pose;
  pose.position = {p.position.x, p.position.y, p.position.z};
  Eigen::Quaterniond q(p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z);
  pose.orientation = q.norm() > 1e-6 ? q.normalized() : Eigen::Quaterniond::Identity();
  return pose;
}

}  // namespace

void InspectionNodeOptions::Check() const {
  VIGIL_CHECK_OPTION(!reference.empty() || !map.empty(), "~reference",
                     "must name the reference run folder (or give ~map)");
  VIGIL_CHECK_OPTION(reference.empty() || map.empty(), "~map", "give ~reference or ~map, not both");
  VIGIL_CHECK_OPTION(pose_type == "odometry" || pose_type == "pose_stamped" || pose_type == "none",
                     "~pose_type", "must be odometry, pose_stamped or none");
  VIGIL_CHECK_OPTION(!image_topic.empty(), "~image_topic", "must not be empty");
  VIGIL_CHECK_OPTION(pose_type == "none" || !pose_topic.empty(), "~pose_topic",
                     "must not be empty");
  VIGIL_CHECK_OPTION(sync_slop_s > 0, "~sync_slop", "must be > 0");
  VIGIL_CHECK_OPTION(sync_queue_size >= 1, "~sync_queue_size", "must be >= 1");
  VIGIL_CHECK_OPTION(marker_size_m > 0, "~marker_size", "must be > 0");
  inspector.Check();
}

InspectionNodeOptions ReadInspectionNodeOptions(const ::ros::NodeHandle& pnh) {
  InspectionNodeOptions o;
  o.reference = Param<std::string>(pnh, "reference", "");
  o.map = Param<std::string>(pnh, "map", "");
  o.inspector.calibration_file = Param<std::string>(pnh, "calibration", "");
  o.inspector.extractor.type = Param<std::string>(pnh, "extractor", o.inspector.extractor.type);
  o.inspector.matcher.type = Param<std::string>(pnh, "matcher", o.inspector.matcher.type);
  o.inspector.segmenter.type = Param<std::string>(pnh, "segmenter", o.inspector.segmenter.type);
  o.inspector.segment = Param<bool>(pnh, "segment", o.inspector.segment);
  o.inspector.segment_when = Param<std::string>(pnh, "segment_when", o.inspector.segment_when);
  const int threads = Param<int>(pnh, "threads", o.inspector.extractor.num_threads);
  o.inspector.SetNumThreads(threads);
  if (pnh.hasParam("max_keypoints")) {
    SharedExtractorSettings shared;  // mapped onto each extractor as the CLI's --max-keypoints
    shared.max_keypoints = Param<int>(pnh, "max_keypoints", 0);
    shared.max_keypoints_option = "~max_keypoints";
    o.inspector.extractor.ApplyShared(shared);
  }
  o.inspector.selection.max_distance_m =
      Param<double>(pnh, "max_distance", o.inspector.selection.max_distance_m);
  o.inspector.selection.max_angle_deg =
      Param<double>(pnh, "max_angle", o.inspector.selection.max_angle_deg);
  o.inspector.selection.pose_tie_break = retrieval::ParsePoseTieBreak(
      Param<std::string>(pnh, "pose_tie_break", retrieval::ToString(o.inspector.selection.pose_tie_break)),
      "~pose_tie_break");
  o.inspector.detector.detect_missing =
      Param<bool>(pnh, "detect_missing", o.inspector.detector.detect_missing);
  o.inspector.detector.photometric.enabled =
      Param<bool>(pnh, "photometric", o.inspector.detector.photometric.enabled);
  o.inspector.show_progress = false;
  o.inspector.resume = false;
  o.image_topic = Param<std::string>(pnh, "image_topic", o.image_topic);
  o.pose_topic = Param<std::string>(pnh, "pose_topic", o.pose_topic);
  o.pose_type = Param<std::string>(pnh, "pose_type", o.pose_type);
  o.sync_slop_s = Param<double>(pnh, "sync_slop", o.sync_slop_s);
  o.sync_queue_size = Param<int>(pnh, "sync_queue_size", o.sync_queue_size);
  o.out_dir = Param<std::string>(pnh, "out_dir", o.out_dir);
  o.inspector.write_panels = !o.out_dir.empty();
  o.marker_size_m = Param<double>(pnh, "marker_size", o.marker_size_m);
  // Any inspector option by its path, as `vigil inspect --set` takes it (applied last).
  for (const std::string& assignment : Param<std::vector<std::string>>(pnh, "set", {})) {
    SetOptionField(&o.inspector, assignment, "~set");
  }
  o.robot = Param<std::string>(
      pnh, "robot", NamespaceName(pnh.getNamespace().substr(0, pnh.getNamespace().rfind('/'))));
  o.Check();
  return o;
}

struct InspectionNode::Impl {
  InspectionNodeOptions options;
  std::optional<map::MapStore> map;  // read-only; several robots' nodes may share one file
  Inspector inspector;
  FrameMailbox<PendingFrame> mailbox;
  ::ros::Publisher json_pub, image_pub, marker_pub, dropped_pub;
  std::unique_ptr<message_filters::Subscriber<sensor_msgs::Image>> image_sub;
  std::unique_ptr<message_filters::Subscriber<nav_msgs::Odometry>> odom_sub;
  std::unique_ptr<message_filters::Subscriber<geometry_msgs::PoseStamped>> pose_sub;
  using OdomPolicy =
      message_filters::sync_policies::ApproximateTime<sensor_msgs::Image, nav_msgs::Odometry>;
  using PosePolicy = message_filters::sync_policies::ApproximateTime<sensor_msgs::Image,
                                                                     geometry_msgs::PoseStamped>;
  std::unique_ptr<message_filters::Synchronizer<OdomPolicy>> odom_sync;
  std::unique_ptr<message_filters::Synchronizer<PosePolicy>> pose_sync;
  ::ros::Subscriber plain_image_sub;
  std::atomic<uint64_t> processed{0};
  int marker_id = 0;
  std::thread worker;

  Impl(::ros::NodeHandle& nh, ::ros::NodeHandle& pnh, const InspectionNodeOptions& o)
      : options(o),
        map(o.map.empty() ? std::nullopt : std::optional<map::MapStore>(map::MapStore::OpenReadOnly(o.map))),
        inspector(map ? map->ReferenceRun() : retrieval::LoadRun(o.reference, o.inspector.reference_run),
                  o.inspector, map ? &*map : nullptr) {
    json_pub = pnh.advertise<std_msgs::String>("anomalies", 10);
    image_pub = pnh.advertise<sensor_msgs::Image>("anomaly_image", 2);
    marker_pub = pnh.advertise<visualization_msgs::MarkerArray>("markers", 10);
    dropped_pub = pnh.advertise<std_msgs::UInt64>("dropped_frames", 10, /*latch=*/true);
    worker = std::thread([this] { Work(); });
    // Subscriber queues of 1: ROS itself must not queue frames either.
    if (options.pose_type == "none") {
      plain_image_sub = nh.subscribe<sensor_msgs::Image>(
          options.image_topic, 1, [this](const sensor_msgs::ImageConstPtr& image) {
            Offer({image, std::nullopt, ""});
          });
      return;
    }
    image_sub = std::make_unique<message_filters::Subscriber<sensor_msgs::Image>>(
        nh, options.image_topic, options.sync_queue_size);
    if (options.pose_type == "odometry") {
      odom_sub = std::make_unique<message_filters::Subscriber<nav_msgs::Odometry>>(
          nh, options.pose_topic, options.sync_queue_size);
      odom_sync = std::make_unique<message_filters::Synchronizer<OdomPolicy>>(
          OdomPolicy(options.sync_queue_size), *image_sub, *odom_sub);
      odom_sync->setMaxIntervalDuration(::ros::Duration(options.sync_slop_s));
      odom_sync->registerCallback(&Impl::OnOdometry, this);
    } else {
      pose_sub = std::make_unique<message_filters::Subscriber<geometry_msgs::PoseStamped>>(
          nh, options.pose_topic, options.sync_queue_size);
      pose_sync = std::make_unique<message_filters::Synchronizer<PosePolicy>>(
          PosePolicy(options.sync_queue_size), *image_sub, *pose_sub);
      pose_sync->setMaxIntervalDuration(::ros::Duration(options.sync_slop_s));
      pose_sync->registerCallback(&Impl::OnPoseStamped, this);
    }
  }

  void OnOdometry(const sensor_msgs::ImageConstPtr& image, const nav_msgs::OdometryConstPtr& odom) {
    Offer({image, PoseFromMsg(odom->pose.pose), odom->header.frame_id});
  }
  void OnPoseStamped(const sensor_msgs::ImageConstPtr& image,
                     const geometry_msgs::PoseStampedConstPtr& pose) {
    Offer({image, PoseFromMsg(pose->pose), pose->header.frame_id});
  }

  ~Impl() {
    mailbox.Close();
    if (worker.joinable()) worker.join();
  }

  void Offer(PendingFrame frame) {
    if (mailbox.Put(std::move(frame))) {
      const uint64_t dropped = mailbox.dropped();
      ROS_WARN_THROTTLE(2.0, "vigil_node: busy, dropped a frame (%llu dropped so far)",
                        static_cast<unsigned long long>(dropped));
      std_msgs::UInt64 msg;
      msg.data = dropped;
      dropped_pub.publish(msg);
    }
  }

  void Work() {
    int index = 0;
    while (std::optional<PendingFrame> frame = mailbox.Take()) {
      const sensor_msgs::Image& msg = *frame->image;
      const std::string name = ImageNameForStamp(msg.header.stamp.toSec());
      json doc;
      cv::Mat annotated;
      std::vector<std::string> labels;
      try {
        const cv::Mat image =
            ImageFromRaw(msg.encoding, static_cast<int>(msg.width), static_cast<int>(msg.height),
                         static_cast<int>(msg.step), msg.is_bigendian != 0, msg.data);
        VIGIL_CHECK(image.depth() == CV_8U, "image encoding {}: the inspection needs 8-bit images",
                    msg.encoding);
        retrieval::RunFrame run_frame;
        run_frame.image = name;
        run_frame.pose = frame->pose;
        run_frame.timestamp = msg.header.stamp.toSec();
        const FrameResult result = inspector.InspectFrame(run_frame, index, image);
        if (!options.out_dir.empty()) {
          WriteFrameImages(options.out_dir, fs::path(name).stem().string(), result, image,
                           options.inspector.write_panels);
        }
        doc = ToJson(result);
        doc["config_hash"] = inspector.config_hash();
        annotated = RenderAnomalyOverlay(image, result.detection);
        for (const Anomaly& a : result.detection.anomalies)
          labels.push_back(a.kind + ":" + a.label);
      } catch (const std::exception& e) {
        ROS_ERROR("vigil_node: frame %s: %s", name.c_str(), e.what());
        doc = {{"query", name}, {"error", e.what()}};
      }
      ++index;
      ++processed;
      doc["robot"] = options.robot;
      doc["stamp"] = msg.header.stamp.toSec();
      doc["seq"] = msg.header.seq;
      doc["dropped_frames"] = mailbox.dropped();
      if (!options.out_dir.empty() && !doc.contains("error")) {
        try {
          WriteTextFileAtomically(
              fs::path(options.out_dir) / (fs::path(name).stem().string() + ".json"), doc.dump(2));
        } catch (const std::exception& e) {
          ROS_ERROR("vigil_node: %s", e.what());
        }
      }
      if (!annotated.empty()) image_pub.publish(ImageToMsg(annotated, msg.header));
      if (frame->pose && !labels.empty()) PublishMarkers(*frame, msg.header, labels);
      std_msgs::String out;
      out.data = doc.dump();
      json_pub.publish(out);
    }
  }

  void PublishMarkers(const PendingFrame& frame, const std_msgs::Header& image_header,
                      const std::vector<std::string>& labels) {
    visualization_msgs::MarkerArray array;
    visualization_msgs::Marker box;
    box.header.stamp = image_header.stamp;
    box.header.frame_id = frame.pose_frame.empty() ? "map" : frame.pose_frame;
    box.ns = "vigil/" + options.robot;
    box.id = marker_id++;
    box.type = visualization_msgs::Marker::CUBE;
    box.action = visualization_msgs::Marker::ADD;
    box.pose.position.x = frame.pose->position.x();
    box.pose.position.y = frame.pose->position.y();
    box.pose.position.z = frame.pose->position.z();
    box.pose.orientation.x = frame.pose->orientation.x();
    box.pose.orientation.y = frame.pose->orientation.y();
    box.pose.orientation.z = frame.pose->orientation.z();
    box.pose.orientation.w = frame.pose->orientation.w();
    box.scale.x = box.scale.y = box.scale.z = options.marker_size_m;
    box.color.r = 1.0f;
    box.color.g = 0.2f;
    box.color.b = 0.1f;
    box.color.a = 0.6f;
    array.markers.push_back(box);
    visualization_msgs::Marker text = box;
    text.id = marker_id++;
    text.type = visualization_msgs::Marker::TEXT_VIEW_FACING;
    text.pose.position.z += options.marker_size_m;
    text.scale.x = text.scale.y = 0;
    text.scale.z = options.marker_size_m / 2;
    text.color.r = text.color.g = text.color.b = text.color.a = 1.0f;
    std::ostringstream joined;
    for (size_t i = 0; i < labels.size(); ++i) joined << (i ? ", " : "") << labels[i];
    text.text = joined.str();
    array.markers.push_back(text);
    marker_pub.publish(array);
  }
};

InspectionNode::InspectionNode(::ros::NodeHandle& nh, ::ros::NodeHandle& pnh,
                               const InspectionNodeOptions& options)
    : impl_(std::make_unique<Impl>(nh, pnh, options)) {}
InspectionNode::~InspectionNode() = default;
uint64_t InspectionNode::processed() const { return impl_->processed.load(); }
uint64_t InspectionNode::dropped() const { return impl_->mailbox.dropped(); }

// --- collector ---

void CollectorOptions::Check() const {
  VIGIL_CHECK_OPTION(!robots.empty(), "~robots", "must list at least one robot namespace");
  VIGIL_CHECK_OPTION(!out_dir.empty(), "~out_dir", "must name the report folder");
  VIGIL_CHECK_OPTION(write_period_s >= 0, "~write_period", "must be >= 0");
}

CollectorOptions ReadCollectorOptions(const ::ros::NodeHandle& pnh) {
  CollectorOptions o;
  if (pnh.hasParam("robots")) {
    XmlRpc::XmlRpcValue value;
    pnh.getParam("robots", value);
    if (value.getType() == XmlRpc::XmlRpcValue::TypeArray) {
      for (int i = 0; i < value.size(); ++i) {
        VIGIL_CHECK(value[i].getType() == XmlRpc::XmlRpcValue::TypeString,
                    "parameter {}: entry {} is not a string", pnh.resolveName("robots"), i);
        o.robots.push_back(static_cast<std::string>(value[i]));
      }
    } else if (value.getType() == XmlRpc::XmlRpcValue::TypeString) {
      std::stringstream list(static_cast<std::string>(value));
      for (std::string item; std::getline(list, item, ',');) {
        item.erase(0, item.find_first_not_of(" /"));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty()) o.robots.push_back(item);
      }
    } else {
      ThrowError(fmt::format("parameter {}: expected a list of robot namespaces",
                             pnh.resolveName("robots")));
    }
  }
  o.node_name = Param<std::string>(pnh, "node_name", o.node_name);
  o.out_dir = Param<std::string>(pnh, "out_dir", o.out_dir);
  o.title = Param<std::string>(pnh, "title", o.title);
  o.write_period_s = Param<double>(pnh, "write_period", o.write_period_s);
  o.Check();
  return o;
}

struct Collector::Impl {
  CollectorOptions options;
  std::vector<::ros::Subscriber> subs;
  mutable std::mutex mutex;
  std::map<std::string, report::FrameRecord> records;  // "<robot>__<stem>.png" -> its record
  ::ros::WallTime last_write;
  bool dirty = false;

  static std::string Key(const std::string& robot, const std::string& query) {
    return robot + "__" + query;
  }

  void OnResult(const std::string& robot, const std_msgs::StringConstPtr& msg) {
    json doc;
    try {
      doc = json::parse(msg->data);
    } catch (const std::exception& e) {
      ROS_ERROR("vigil_collector: %s sent a message that is not JSON: %s", robot.c_str(), e.what());
      return;
    }
    if (!doc.is_object()) {
      ROS_ERROR("vigil_collector: %s sent a message that is not a JSON object", robot.c_str());
      return;
    }
    const std::string query =
        doc.contains("query") && doc["query"].is_string() ? doc["query"].get<std::string>() : "unknown.png";
    doc["robot"] = robot;
    doc["query"] = Key(robot, query);
    {
      std::lock_guard<std::mutex> lock(mutex);
      try {
        WriteTextFileAtomically(
            fs::path(options.out_dir) / (fs::path(Key(robot, query)).stem().string() + ".json"),
            doc.dump(2));
      } catch (const std::exception& e) {
        ROS_ERROR("vigil_collector: %s", e.what());
      }
      // A frame the node failed on, or a message that is not a frame result, is a row that
      // says so (not inspectable, with the reason), never an unchanged frame.
      report::FrameRecord record = report::FrameRecordOrFailure(doc, Key(robot, query));
      if (record.localization_error && record.note.rfind("unreadable result: ", 0) == 0) {
        ROS_ERROR("vigil_collector: %s sent an %s", robot.c_str(), record.note.c_str());
      }
      records[Key(robot, query)] = std::move(record);
      dirty = true;
    }
    if ((::ros::WallTime::now() - last_write).toSec() >= options.write_period_s) WriteReport();
  }

  void OnImage(const std::string& robot, const sensor_msgs::ImageConstPtr& msg) {
    try {
      const cv::Mat image =
          ImageFromRaw(msg->encoding, static_cast<int>(msg->width), static_cast<int>(msg->height),
                       static_cast<int>(msg->step), msg->is_bigendian != 0, msg->data);
      const std::string stem =
          fs::path(Key(robot, ImageNameForStamp(msg->header.stamp.toSec()))).stem().string();
      io::WriteImage(fs::path(options.out_dir) / "panels" / (stem + ".png"), image);
    } catch (const std::exception& e) {
      ROS_ERROR("vigil_collector: %s image: %s", robot.c_str(), e.what());
    }
  }

  void WriteReport() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!dirty && fs::exists(fs::path(options.out_dir) / "report.html")) return;
    report::InspectionReportInput input;
    input.title = options.title;
    json robots = json::array();
    for (const std::string& r : options.robots) robots.push_back(r);
    input.config = {{"robots", robots}, {"node", options.node_name}};
    for (const auto& [key, record] : records) input.queries.push_back(record);
    try {
      report::WriteInspectionReport(options.out_dir, input);
    } catch (const std::exception& e) {
      ROS_ERROR("vigil_collector: cannot write the report: %s", e.what());
    }
    last_write = ::ros::WallTime::now();
    dirty = false;
  }
};

Collector::Collector(::ros::NodeHandle& nh, const CollectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  EnsureDirectory(fs::path(options.out_dir) / "panels");
  for (const std::string& robot : options.robots) {
    const std::string base = "/" + robot + "/" + options.node_name + "/";
    Impl* impl = impl_.get();
    impl_->subs.push_back(nh.subscribe<std_msgs::String>(
        base + "anomalies", 100,
        [impl, robot](const std_msgs::StringConstPtr& msg) { impl->OnResult(robot, msg); }));
    impl_->subs.push_back(nh.subscribe<sensor_msgs::Image>(
        base + "anomaly_image", 10,
        [impl, robot](const sensor_msgs::ImageConstPtr& msg) { impl->OnImage(robot, msg); }));
  }
  impl_->WriteReport();
}

Collector::~Collector() {
  try {
    impl_->subs.clear();
    impl_->dirty = true;
    impl_->WriteReport();  // logs its own errors; a destructor must not throw
  } catch (...) {
  }
}

void Collector::WriteReport() { impl_->WriteReport(); }

size_t Collector::num_results() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->records.size();
}

}  // namespace vigil::ros
