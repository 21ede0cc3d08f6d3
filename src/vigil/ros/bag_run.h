// ROS 1 bags as runs: a bag recorded on a robot (camera images + its pose) becomes a run folder
// (retrieval/run.h: images + poses.csv) and a run folder becomes a bag (for tests and for
// feeding the live node with a recorded run).
//
// Images: sensor_msgs/Image (mono8, 8UC1, bgr8, rgb8, 8UC3, bgra8, rgba8, 8UC4, mono16, 16UC1;
// colour is written as BGR PNG, 16-bit as 16-bit PNG) or sensor_msgs/CompressedImage (any
// format OpenCV decodes). An image's time is its header.stamp, or the bag time when the stamp
// is zero. Images are named "<sec>.<nsec, 9 digits>.png" so that TimestampFromFileName gives
// their time back and sorting by name is sorting by time.
// Poses: nav_msgs/Odometry (pose.pose), geometry_msgs/PoseStamped,
// geometry_msgs/PoseWithCovarianceStamped, or tf2_msgs/TFMessage on /tf (+ /tf_static): the
// transform whose header.frame_id is the fixed frame and child_frame_id the child frame (a
// direct parent-child transform only: no chain lookup through intermediate frames).
// Pairing: an image between two pose samples at most max_pose_gap_s apart gets the linear
// interpolation of their positions and the slerp of their orientations; otherwise it takes the
// nearest sample when that is within pose_tolerance_s; otherwise it has no pose (listed in the
// report, written without a poses.csv row, so retrieval falls back to appearance for it).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <sensor_msgs/Image.h>
#include <std_msgs/Header.h>

#include "vigil/retrieval/run.h"
#include "vigil/util/progress.h"

namespace vigil::ros {

struct BagExtractOptions {
  std::string image_topic;     // sensor_msgs/Image or sensor_msgs/CompressedImage
  std::string pose_topic;      // Odometry / PoseStamped / PoseWithCovarianceStamped; or empty
  std::string tf_fixed_frame;  // with tf_child_frame instead of pose_topic: poses from /tf
  std::string tf_child_frame;
  std::vector<std::string> tf_topics = {"/tf", "/tf_static"};  // read when tf frames are given
  double max_pose_gap_s = 0.5;     // interpolate between pose samples at most this far apart, s
  double pose_tolerance_s = 0.05;  // else take the nearest sample within this time, s
  double min_distance_m = 0;       // keep a frame only after moving this far (0 = keep all), m
  bool skip_unposed = false;       // drop images without a pose instead of writing them
  bool show_progress = false;      // progress bar on stderr
  void Check() const;              // throws naming the option
};

struct BagExtractReport {
  std::string image_type;            // message type on the image topic
  std::string pose_type;             // message type of the pose source ("" = none)
  int num_images = 0;                // image messages read
  int num_poses = 0;                 // pose samples read
  int num_written = 0;               // images written to the run
  int num_subsampled = 0;            // skipped by min_distance_m
  std::vector<std::string> unposed;  // names of images that got no pose
  std::string Summary() const;       // one paragraph for the CLI
};

// A pose sample in time (the bag's pose stream).
struct TimedPose {
  double time = 0;  // seconds
  retrieval::Pose pose;
};

// The pose at time t from samples sorted by time (see the pairing rule at the top).
std::optional<retrieval::Pose> InterpolatePose(const std::vector<TimedPose>& samples, double t,
                                               double max_gap_s, double tolerance_s);

// Reads the pose stream of `bag` as configured in `options`, sorted by time. Throws vigil::Error
// naming the bag and topic when the topic is missing, has another type, or the bag is unreadable.
std::vector<TimedPose> ReadBagPoses(const std::filesystem::path& bag,
                                    const BagExtractOptions& options);

// Extracts `bag` into the run folder `out_dir`, atomically: everything is written into a
// temporary sibling folder that is renamed to out_dir at the end, so out_dir is either absent
// or complete. out_dir must not exist or be empty. Throws vigil::Error naming the bag for an
// unreadable or corrupt bag, an empty bag, a missing topic (listing the topics present), a
// topic of the wrong type, an image that cannot be decoded, or no image at all after
// subsampling. `cancel` is checked between images (throws vigil::Cancelled, nothing written).
BagExtractReport ExtractBagToRun(const std::filesystem::path& bag,
                                 const std::filesystem::path& out_dir,
                                 const BagExtractOptions& options,
                                 const CancelToken* cancel = nullptr);

// The image of a run as the name it would get in an extracted run ("<sec>.<nsec>.png").
std::string ImageNameForStamp(double time_s);

struct BagWriteOptions {
  std::string image_topic = "/camera/image_raw";
  std::string pose_topic = "/odom";  // written as nav_msgs/Odometry; empty = none
  std::string image_frame_id = "camera";
  std::string pose_frame_id = "map";  // Odometry header.frame_id
  std::string pose_child_frame_id = "base_link";
  bool compressed = false;          // CompressedImage (PNG) on image_topic + "/compressed" instead
  double start_time_s = 1000;       // stamp of the first frame when names carry no timestamp, s
  double period_s = 0.1;            // spacing of frames without a timestamp in their name, s
  bool use_file_timestamps = true;  // stamp = TimestampFromFileName when the name has one
  void Check() const;
};

// Writes a run as a bag: per frame one image (bgr8 / mono8 as read) and, when the frame has a
// pose, one Odometry with the same stamp. Written atomically (temporary name, then rename).
void WriteRunToBag(const retrieval::Run& run, const std::filesystem::path& bag,
                   const BagWriteOptions& options = {});

// Converts between OpenCV images and sensor_msgs/Image encodings (see the list at the top).
// Throws vigil::Error naming the encoding for unsupported ones or a malformed message
// (data shorter than step * height, step shorter than a row).
cv::Mat ImageFromRaw(const std::string& encoding, int width, int height, int step, bool big_endian,
                     const std::vector<unsigned char>& data);
// The other way for an 8-bit grey or BGR image: a mono8 / bgr8 message with `header`.
sensor_msgs::Image ImageToMsg(const cv::Mat& image, const std_msgs::Header& header);

}  // namespace vigil::ros
