// The live inspection node (`vigil_node`) and the result collector (`vigil_collector`).
//
// vigil_node: loads a reference run and (optionally) a calibration, subscribes to an image
// topic and a pose topic paired by message_filters' ApproximateTime policy (or to images alone
// with pose_type "none": retrieval then falls back to appearance), runs Inspector::InspectFrame
// on each frame in a worker thread and publishes, in its private namespace:
//   ~anomalies       std_msgs/String   the per-frame JSON of `vigil inspect` (inspection/
//                                       result_io.h) plus "robot", "stamp", "seq",
//                                       "dropped_frames"; "query" is the name the frame would have
//                                       in a run extracted by `vigil bag-extract` (ros/bag_run.h)
//   ~anomaly_image   sensor_msgs/Image the query with its anomalies drawn (bgr8)
//   ~markers         visualization_msgs/MarkerArray  a box (+ label) at the robot pose of every
//                                       frame with a change, in the pose message's frame
//   ~dropped_frames  std_msgs/UInt64   total frames dropped so far (published on every drop)
// Frames are dropped, not queued, when the worker is busy (ros/frame_mailbox.h).
// Frames whose inspection fails (e.g. an image encoding it cannot read) are published as
// {"query", "error"} and the node goes on.
//
// vigil_collector: subscribes to <robot>/vigil_node/anomalies (+ anomaly_image for the
// thumbnails) of every robot namespace in ~robots and writes one run report (report/
// html_report.h) into ~out_dir: <robot>__<stem>.json per frame, panels/<robot>__<stem>.png,
// report.html rewritten at most every ~write_period_s and at shutdown.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vigil/inspection/inspector.h"

namespace ros {
class NodeHandle;
}

namespace vigil::ros {

struct InspectionNodeOptions {
  std::string reference;               // reference run folder (images + poses.csv)
  std::string map;                     // or its map file (vigil map build): no reference decoded
  InspectorOptions inspector;          // extractor, matcher, calibration file, segmenter, detector
  std::string image_topic = "image";   // resolved in the node's namespace
  std::string pose_topic = "odom";     // resolved in the node's namespace
  std::string pose_type = "odometry";  // odometry | pose_stamped | none
  double sync_slop_s = 0.05;           // ApproximateTime: largest stamp difference in a pair, s
  int sync_queue_size = 10;            // ApproximateTime queue per topic
  std::string out_dir;                 // when set: masks/, panels/ and <stem>.json are written here
  double marker_size_m = 0.3;          // edge of the box marker, m
  std::string robot;                   // name in the JSON; default: the node's namespace
  void Check() const;                  // throws naming the parameter
};

// Reads the options from the parameter server (private namespace `pnh`): reference,
// calibration, extractor, matcher, segmenter, segment, threads, max_keypoints, image_topic,
// pose_topic, pose_type, sync_slop, sync_queue_size, out_dir, max_distance, max_angle,
// pose_tie_break, detect_missing, photometric, marker_size, robot. Throws vigil::Error naming the parameter.
InspectionNodeOptions ReadInspectionNodeOptions(const ::ros::NodeHandle& pnh);

// Subscribes and starts the worker in the constructor; stops it in the destructor.
class InspectionNode {
 public:
  InspectionNode(::ros::NodeHandle& nh, ::ros::NodeHandle& pnh,
                 const InspectionNodeOptions& options);
  ~InspectionNode();
  uint64_t processed() const;
  uint64_t dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CollectorOptions {
  std::vector<std::string> robots;       // robot namespaces, e.g. {"robot1", "robot2"}
  std::string node_name = "vigil_node";  // the node under each namespace
  std::string out_dir;                   // report folder
  std::string title = "vigil: multi-robot inspection";
  double write_period_s = 2;  // report.html rewritten at most this often, s
  void Check() const;
};

// Reads robots (list or comma-separated string), node_name, out_dir, title, write_period.
CollectorOptions ReadCollectorOptions(const ::ros::NodeHandle& pnh);

class Collector {
 public:
  Collector(::ros::NodeHandle& nh, const CollectorOptions& options);
  ~Collector();  // writes the report a last time
  void WriteReport();
  size_t num_results() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::ros
