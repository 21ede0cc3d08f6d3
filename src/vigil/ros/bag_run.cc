#include "vigil/ros/bag_run.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <geometry_msgs/PoseStamped.h>
#include <geometry_msgs/PoseWithCovarianceStamped.h>
#include <map>
#include <nav_msgs/Odometry.h>
#include <sensor_msgs/CompressedImage.h>
#include <sensor_msgs/Image.h>
#include <set>
#include <tf2_msgs/TFMessage.h>
#include <unistd.h>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <rosbag/bag.h>
#include <rosbag/view.h>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::ros {
namespace fs = std::filesystem;

namespace {

constexpr const char* kImageType = "sensor_msgs/Image";
constexpr const char* kCompressedType = "sensor_msgs/CompressedImage";
constexpr const char* kOdometryType = "nav_msgs/Odometry";
constexpr const char* kPoseStampedType = "geometry_msgs/PoseStamped";
constexpr const char* kPoseCovType = "geometry_msgs/PoseWithCovarianceStamped";
constexpr const char* kTfType = "tf2_msgs/TFMessage";

// Bags name topics with a leading slash; users often leave it out.
std::string NormalizeTopic(const std::string& topic) {
  if (topic.empty() || topic[0] == '/') return topic;
  return "/" + topic;
}

std::string StripSlash(const std::string& frame) {
  return !frame.empty() && frame[0] == '/' ? frame.substr(1) : frame;
}

// rosbag throws its own exception types (and occasionally std::runtime_error from
// deserialisation) for unreadable files; every call goes through here so that the user sees
// the bag's name and the library's reason in one vigil::Error.
template <typename F>
auto WithBag(const fs::path& bag, const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const rosbag::BagException& e) {
    ThrowError(
        fmt::format("{}: {} (corrupt or not a ROS 1 bag?): {}", bag.string(), what, e.what()));
  } catch (const std::exception& e) {
    ThrowError(fmt::format("{}: {}: {}", bag.string(), what, e.what()));
  }
}

void OpenForReading(rosbag::Bag& bag, const fs::path& path) {
  VIGIL_CHECK(fs::is_regular_file(path), "bag {} does not exist or is not a file", path.string());
  WithBag(path, "cannot open", [&] { bag.open(path.string(), rosbag::bagmode::Read); });
}

// topic -> type of every connection in the bag, and the message count.
struct BagTopics {
  std::map<std::string, std::string> types;
  size_t num_messages = 0;
  std::string List() const {
    std::string out;
    for (const auto& [topic, type] : types) {
      out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", topic, type);
    }
    return out.empty() ? "none" : out;
  }
};

BagTopics ReadTopics(rosbag::Bag& bag, const fs::path& path) {
  return WithBag(path, "cannot read the index", [&] {
    rosbag::View view(bag);
    BagTopics topics;
    for (const rosbag::ConnectionInfo* c : view.getConnections()) {
      topics.types[c->topic] = c->datatype;
    }
    topics.num_messages = view.size();
    return topics;
  });
}

// Checks that `topic` exists with one of `types`; returns its type.
std::string RequireTopic(const BagTopics& topics, const fs::path& bag, const std::string& topic,
                         const std::vector<std::string>& types, const char* role) {
  VIGIL_CHECK(topics.num_messages > 0, "bag {} is empty (no messages)", bag.string());
  auto it = topics.types.find(topic);
  VIGIL_CHECK(it != topics.types.end(), "bag {} has no {} topic {}; its topics: {}", bag.string(),
              role, topic, topics.List());
  VIGIL_CHECK(std::find(types.begin(), types.end(), it->second) != types.end(),
              "bag {}: {} topic {} has type {}, expected one of: {}", bag.string(), role, topic,
              it->second, fmt::format("{}", fmt::join(types, ", ")));
  return it->second;
}

double StampOr(const ::ros::Time& stamp, const ::ros::Time& bag_time) {
  return stamp.isZero() ? bag_time.toSec() : stamp.toSec();
}

retrieval::Pose PoseFromMsg(const geometry_msgs::Pose& p, const fs::path& bag,
                            const std::string& topic) {
  retrieval::Pose pose;
  pose.position = {p.position.x, p.position.y, p.position.z};
  Eigen::Quaterniond q(p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z);
  const double norm = q.norm();
  VIGIL_CHECK(pose.position.allFinite() && std::isfinite(norm) && norm > 1e-6,
              "bag {}: {} has a non-finite pose or a zero quaternion", bag.string(), topic);
  pose.orientation = q.normalized();
  return pose;
}

// Writes the pose rows of poses.csv (retrieval/run.h).
std::string PoseRow(const std::string& name, const retrieval::Pose& p) {
  const Eigen::Quaterniond& q = p.orientation;
  return fmt::format("{},{:.12g},{:.12g},{:.12g},{:.12g},{:.12g},{:.12g},{:.12g}\n", name,
                     p.position.x(), p.position.y(), p.position.z(), q.x(), q.y(), q.z(), q.w());
}

}  // namespace

void BagExtractOptions::Check() const {
  VIGIL_CHECK_OPTION(!image_topic.empty(), "image_topic", "must be given");
  const bool tf = !tf_fixed_frame.empty() || !tf_child_frame.empty();
  VIGIL_CHECK_OPTION(!(tf && !pose_topic.empty()), "pose_topic",
                     "give either a pose topic or tf frames, not both");
  VIGIL_CHECK_OPTION(!tf || (!tf_fixed_frame.empty() && !tf_child_frame.empty()), "tf_frames",
                     "needs both the fixed frame and the child frame");
  VIGIL_CHECK_OPTION(!tf || !tf_topics.empty(), "tf_topics", "must not be empty");
  VIGIL_CHECK_OPTION(std::isfinite(max_pose_gap_s) && max_pose_gap_s >= 0, "max_pose_gap_s",
                     "must be >= 0");
  VIGIL_CHECK_OPTION(std::isfinite(pose_tolerance_s) && pose_tolerance_s >= 0, "pose_tolerance_s",
                     "must be >= 0");
  VIGIL_CHECK_OPTION(std::isfinite(min_distance_m) && min_distance_m >= 0, "min_distance_m",
                     "must be >= 0");
}

void BagWriteOptions::Check() const {
  VIGIL_CHECK_OPTION(!image_topic.empty(), "image_topic", "must be given");
  VIGIL_CHECK_OPTION(std::isfinite(start_time_s) && start_time_s > 0, "start_time_s",
                     "must be > 0 (ROS time zero means 'no stamp')");
  VIGIL_CHECK_OPTION(std::isfinite(period_s) && period_s > 0, "period_s", "must be > 0");
}

std::string BagExtractReport::Summary() const {
  std::string s = fmt::format(
      "{} images ({}), {} pose samples ({}); wrote {} images, {} skipped by distance, "
      "{} without a pose",
      num_images, image_type, num_poses, pose_type.empty() ? "no pose source" : pose_type,
      num_written, num_subsampled, unposed.size());
  if (!unposed.empty()) {
    s += ":";
    const size_t shown = std::min<size_t>(unposed.size(), 10);
    for (size_t i = 0; i < shown; ++i) s += " " + unposed[i];
    if (shown < unposed.size()) s += fmt::format(" ... (+{})", unposed.size() - shown);
  }
  return s;
}

std::string ImageNameForStamp(double time_s) {
  const ::ros::Time t(time_s);
  return fmt::format("{:010d}.{:09d}.png", t.sec, t.nsec);
}

std::optional<retrieval::Pose> InterpolatePose(const std::vector<TimedPose>& samples, double t,
                                               double max_gap_s, double tolerance_s) {
  if (samples.empty()) return std::nullopt;
  auto after = std::lower_bound(samples.begin(), samples.end(), t,
                                [](const TimedPose& s, double v) { return s.time < v; });
  if (after != samples.end() && after->time == t) return after->pose;
  if (after != samples.end() && after != samples.begin()) {
    const TimedPose& a = *(after - 1);
    const TimedPose& b = *after;
    if (b.time - a.time <= max_gap_s) {
      const double alpha = (t - a.time) / (b.time - a.time);
      retrieval::Pose pose;
      pose.position = (1 - alpha) * a.pose.position + alpha * b.pose.position;
      pose.orientation = a.pose.orientation.slerp(alpha, b.pose.orientation).normalized();
      return pose;
    }
  }
  // Outside the samples or across a gap: the nearest sample, when close enough.
  const TimedPose* nearest = nullptr;
  if (after != samples.end()) nearest = &*after;
  if (after != samples.begin() && (!nearest || t - (after - 1)->time < nearest->time - t)) {
    nearest = &*(after - 1);
  }
  if (nearest && std::abs(nearest->time - t) <= tolerance_s) return nearest->pose;
  return std::nullopt;
}

std::vector<TimedPose> ReadBagPoses(const fs::path& bag_path, const BagExtractOptions& options) {
  options.Check();
  rosbag::Bag bag;
  OpenForReading(bag, bag_path);
  const BagTopics topics = ReadTopics(bag, bag_path);
  std::vector<TimedPose> samples;
  if (!options.pose_topic.empty()) {
    const std::string topic = NormalizeTopic(options.pose_topic);
    RequireTopic(topics, bag_path, topic, {kOdometryType, kPoseStampedType, kPoseCovType}, "pose");
    WithBag(bag_path, "cannot read the pose messages", [&] {
      rosbag::View view(bag, rosbag::TopicQuery(topic));
      for (const rosbag::MessageInstance& m : view) {
        if (auto odom = m.instantiate<nav_msgs::Odometry>()) {
          samples.push_back({StampOr(odom->header.stamp, m.getTime()),
                             PoseFromMsg(odom->pose.pose, bag_path, topic)});
        } else if (auto ps = m.instantiate<geometry_msgs::PoseStamped>()) {
          samples.push_back(
              {StampOr(ps->header.stamp, m.getTime()), PoseFromMsg(ps->pose, bag_path, topic)});
        } else if (auto pc = m.instantiate<geometry_msgs::PoseWithCovarianceStamped>()) {
          samples.push_back({StampOr(pc->header.stamp, m.getTime()),
                             PoseFromMsg(pc->pose.pose, bag_path, topic)});
        }
      }
    });
  } else if (!options.tf_fixed_frame.empty()) {
    std::vector<std::string> present;
    for (const std::string& t : options.tf_topics) {
      const std::string topic = NormalizeTopic(t);
      auto it = topics.types.find(topic);
      if (it == topics.types.end()) continue;
      VIGIL_CHECK(it->second == kTfType, "bag {}: {} has type {}, expected {}", bag_path.string(),
                  topic, it->second, kTfType);
      present.push_back(topic);
    }
    VIGIL_CHECK(topics.num_messages > 0, "bag {} is empty (no messages)", bag_path.string());
    VIGIL_CHECK(!present.empty(), "bag {} has none of the tf topics {}; its topics: {}",
                bag_path.string(), fmt::format("{}", fmt::join(options.tf_topics, ", ")),
                topics.List());
    const std::string fixed = StripSlash(options.tf_fixed_frame);
    const std::string child = StripSlash(options.tf_child_frame);
    std::optional<retrieval::Pose> static_pose;
    std::set<std::string> seen;  // "parent -> child" pairs, for the error message
    WithBag(bag_path, "cannot read the tf messages", [&] {
      rosbag::View view(bag, rosbag::TopicQuery(present));
      for (const rosbag::MessageInstance& m : view) {
        auto tf = m.instantiate<tf2_msgs::TFMessage>();
        if (!tf) continue;
        for (const geometry_msgs::TransformStamped& ts : tf->transforms) {
          const std::string parent = StripSlash(ts.header.frame_id);
          const std::string frame = StripSlash(ts.child_frame_id);
          if (seen.size() < 50) seen.insert(parent + " -> " + frame);
          if (parent != fixed || frame != child) continue;
          geometry_msgs::Pose p;
          p.position.x = ts.transform.translation.x;
          p.position.y = ts.transform.translation.y;
          p.position.z = ts.transform.translation.z;
          p.orientation = ts.transform.rotation;
          const retrieval::Pose pose = PoseFromMsg(p, bag_path, m.getTopic());
          if (m.getTopic() == "/tf_static" || ts.header.stamp.isZero()) {
            static_pose = pose;
          } else {
            samples.push_back({ts.header.stamp.toSec(), pose});
          }
        }
      }
    });
    if (samples.empty() && static_pose) {
      // A static transform holds at every time: two samples spanning all of time.
      samples.push_back({-1e12, *static_pose});
      samples.push_back({1e12, *static_pose});
      return samples;
    }
    VIGIL_CHECK(!samples.empty(),
                "bag {}: no transform from {} to {} on {} (only direct parent-child transforms "
                "are used); transforms present: {}",
                bag_path.string(), fixed, child, fmt::format("{}", fmt::join(present, ", ")),
                fmt::format("{}", fmt::join(seen, ", ")));
  }
  // std::sort, not stable_sort: libstdc++'s stable_sort buffer ignores the alignment that
  // Eigen's quaternion asks for under -march=native (a crash seen with AVX).
  std::sort(samples.begin(), samples.end(),
            [](const TimedPose& a, const TimedPose& b) { return a.time < b.time; });
  return samples;
}

cv::Mat ImageFromRaw(const std::string& encoding, int width, int height, int step, bool big_endian,
                     const std::vector<unsigned char>& data) {
  int type = -1, code = -1;  // OpenCV type of the message rows, colour conversion to apply
  if (encoding == "mono8" || encoding == "8UC1") {
    type = CV_8UC1;
  } else if (encoding == "bgr8" || encoding == "8UC3") {
    type = CV_8UC3;
  } else if (encoding == "rgb8") {
    type = CV_8UC3, code = cv::COLOR_RGB2BGR;
  } else if (encoding == "bgra8" || encoding == "8UC4") {
    type = CV_8UC4, code = cv::COLOR_BGRA2BGR;
  } else if (encoding == "rgba8") {
    type = CV_8UC4, code = cv::COLOR_RGBA2BGR;
  } else if (encoding == "mono16" || encoding == "16UC1") {
    type = CV_16UC1;
  }
  VIGIL_CHECK(type >= 0,
              "image encoding '{}' is not supported (mono8, 8UC1, bgr8, rgb8, 8UC3, bgra8, "
              "rgba8, 8UC4, mono16, 16UC1)",
              encoding);
  VIGIL_CHECK(width > 0 && height > 0, "image message has size {}x{}", width, height);
  const size_t row_bytes = static_cast<size_t>(width) * CV_ELEM_SIZE(type);
  VIGIL_CHECK(step >= 0 && static_cast<size_t>(step) >= row_bytes,
              "image message: step {} is shorter than a row of {} {} pixels ({} bytes)", step,
              width, encoding, row_bytes);
  VIGIL_CHECK(data.size() >= static_cast<size_t>(step) * height,
              "image message: {} data bytes, expected step {} x height {} = {}", data.size(), step,
              height, static_cast<size_t>(step) * height);
  const cv::Mat view(height, width, type, const_cast<unsigned char*>(data.data()),
                     static_cast<size_t>(step));
  cv::Mat image;
  if (code >= 0) {
    cv::cvtColor(view, image, code);
  } else {
    image = view.clone();
  }
  if (type == CV_16UC1) {
    const uint16_t probe = 1;
    const bool host_big = *reinterpret_cast<const unsigned char*>(&probe) == 0;
    if (big_endian != host_big) {
      image.forEach<uint16_t>([](uint16_t& v, const int*) { v = (v >> 8) | (v << 8); });
    }
  }
  return image;
}

BagExtractReport ExtractBagToRun(const fs::path& bag_path, const fs::path& out_dir,
                                 const BagExtractOptions& options, const CancelToken* cancel) {
  options.Check();
  VIGIL_CHECK(!fs::exists(out_dir) || (fs::is_directory(out_dir) && fs::is_empty(out_dir)),
              "output folder {} already exists and is not empty", out_dir.string());
  BagExtractReport report;
  const std::vector<TimedPose> poses =
      (options.pose_topic.empty() && options.tf_fixed_frame.empty())
          ? std::vector<TimedPose>{}
          : ReadBagPoses(bag_path, options);
  report.num_poses = static_cast<int>(poses.size());

  rosbag::Bag bag;
  OpenForReading(bag, bag_path);
  const BagTopics topics = ReadTopics(bag, bag_path);
  const std::string image_topic = NormalizeTopic(options.image_topic);
  report.image_type =
      RequireTopic(topics, bag_path, image_topic, {kImageType, kCompressedType}, "image");
  if (!options.pose_topic.empty()) {
    report.pose_type = topics.types.at(NormalizeTopic(options.pose_topic));
  } else if (!options.tf_fixed_frame.empty()) {
    report.pose_type =
        fmt::format("{} ({} -> {})", kTfType, options.tf_fixed_frame, options.tf_child_frame);
  }

  const fs::path parent = out_dir.parent_path().empty() ? fs::path(".") : out_dir.parent_path();
  EnsureDirectory(parent);
  const fs::path tmp =
      parent / fmt::format(".{}.partial-{}", out_dir.filename().string(), ::getpid());
  fs::remove_all(tmp);
  EnsureDirectory(tmp);
  try {
    std::string csv = "image,x,y,z,qx,qy,qz,qw\n";
    int num_posed = 0;
    std::optional<Eigen::Vector3d> last_kept;
    std::set<std::string> names;
    WithBag(bag_path, "cannot read the image messages", [&] {
      rosbag::View view(bag, rosbag::TopicQuery(image_topic));
      ProgressBar progress("bag-extract", view.size(), options.show_progress);
      for (const rosbag::MessageInstance& m : view) {
        if (cancel) cancel->ThrowIfCancelled();
        ++report.num_images;
        double time = 0;
        cv::Mat image;
        if (auto raw = m.instantiate<sensor_msgs::Image>()) {
          time = StampOr(raw->header.stamp, m.getTime());
          try {
            image = ImageFromRaw(raw->encoding, static_cast<int>(raw->width),
                                 static_cast<int>(raw->height), static_cast<int>(raw->step),
                                 raw->is_bigendian != 0, raw->data);
          } catch (const Error& e) {
            ThrowError(fmt::format("bag {}: {} message {} at t={:.6f}: {}", bag_path.string(),
                                   image_topic, report.num_images, time, e.what()));
          }
        } else if (auto compressed = m.instantiate<sensor_msgs::CompressedImage>()) {
          time = StampOr(compressed->header.stamp, m.getTime());
          image = compressed->data.empty() ? cv::Mat()
                                           : cv::imdecode(compressed->data, cv::IMREAD_UNCHANGED);
          VIGIL_CHECK(!image.empty(),
                      "bag {}: {} message {} at t={:.6f}: cannot decode the '{}' image ({} bytes)",
                      bag_path.string(), image_topic, report.num_images, time, compressed->format,
                      compressed->data.size());
        } else {
          continue;
        }
        progress.Advance();
        std::string name = ImageNameForStamp(time);
        for (int k = 1; names.count(name); ++k) {  // two images with one stamp: keep both
          name = ImageNameForStamp(time).substr(0, 20) + fmt::format("_{}.png", k);
        }
        const std::optional<retrieval::Pose> pose =
            poses.empty()
                ? std::nullopt
                : InterpolatePose(poses, time, options.max_pose_gap_s, options.pose_tolerance_s);
        if (!pose) {
          if (!report.pose_type.empty()) report.unposed.push_back(name);
          if (options.skip_unposed) continue;
        } else if (options.min_distance_m > 0 && last_kept &&
                   (pose->position - *last_kept).norm() < options.min_distance_m) {
          ++report.num_subsampled;
          continue;
        }
        if (pose) {
          last_kept = pose->position;
          csv += PoseRow(name, *pose);
          ++num_posed;
        }
        io::WriteImage(tmp / name, image);
        names.insert(name);
        ++report.num_written;
      }
      progress.Finish();
    });
    VIGIL_CHECK(report.num_images > 0, "bag {}: topic {} has no readable images", bag_path.string(),
                image_topic);
    VIGIL_CHECK(report.num_written > 0, "bag {}: no image left to write ({})", bag_path.string(),
                report.Summary());
    if (num_posed > 0) WriteTextFileAtomically(tmp / "poses.csv", csv);
    if (fs::exists(out_dir)) fs::remove(out_dir);  // checked empty above
    fs::rename(tmp, out_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return report;
}

void WriteRunToBag(const retrieval::Run& run, const fs::path& bag_path,
                   const BagWriteOptions& options) {
  options.Check();
  VIGIL_CHECK(!run.frames.empty(), "run {} has no images", run.dir.string());
  WriteFileAtomically(bag_path, [&](const fs::path& tmp) {
    rosbag::Bag bag;
    WithBag(tmp, "cannot write", [&] {
      bag.open(tmp.string(), rosbag::bagmode::Write);
      const std::string image_topic =
          NormalizeTopic(options.image_topic) + (options.compressed ? "/compressed" : "");
      for (size_t i = 0; i < run.frames.size(); ++i) {
        const retrieval::RunFrame& frame = run.frames[i];
        double t = options.start_time_s + options.period_s * static_cast<double>(i);
        if (options.use_file_timestamps && frame.timestamp) t = *frame.timestamp;
        const ::ros::Time stamp(t);
        const cv::Mat image = io::ReadImage(frame.image, io::ImageMode::kUnchanged);
        if (options.compressed) {
          sensor_msgs::CompressedImage msg;
          msg.header.stamp = stamp;
          msg.header.seq = static_cast<uint32_t>(i);
          msg.header.frame_id = options.image_frame_id;
          msg.format = "png";
          VIGIL_CHECK(cv::imencode(".png", image, msg.data), "cannot PNG-encode {}",
                      frame.image.string());
          bag.write(image_topic, stamp, msg);
        } else {
          VIGIL_CHECK(image.depth() == CV_8U && (image.channels() == 1 || image.channels() == 3),
                      "{}: only 8-bit grey or BGR images are written as raw messages",
                      frame.image.string());
          std_msgs::Header header;
          header.stamp = stamp;
          header.seq = static_cast<uint32_t>(i);
          header.frame_id = options.image_frame_id;
          bag.write(image_topic, stamp, ImageToMsg(image, header));
        }
        if (frame.pose && !options.pose_topic.empty()) {
          nav_msgs::Odometry odom;
          odom.header.stamp = stamp;
          odom.header.seq = static_cast<uint32_t>(i);
          odom.header.frame_id = options.pose_frame_id;
          odom.child_frame_id = options.pose_child_frame_id;
          odom.pose.pose.position.x = frame.pose->position.x();
          odom.pose.pose.position.y = frame.pose->position.y();
          odom.pose.pose.position.z = frame.pose->position.z();
          odom.pose.pose.orientation.x = frame.pose->orientation.x();
          odom.pose.pose.orientation.y = frame.pose->orientation.y();
          odom.pose.pose.orientation.z = frame.pose->orientation.z();
          odom.pose.pose.orientation.w = frame.pose->orientation.w();
          bag.write(NormalizeTopic(options.pose_topic), stamp, odom);
        }
      }
      bag.close();
    });
  });
}

sensor_msgs::Image ImageToMsg(const cv::Mat& image, const std_msgs::Header& header) {
  sensor_msgs::Image msg;
  msg.header = header;
  msg.height = static_cast<uint32_t>(image.rows);
  msg.width = static_cast<uint32_t>(image.cols);
  msg.encoding = image.channels() == 1 ? "mono8" : "bgr8";
  msg.step = static_cast<uint32_t>(image.cols * image.elemSize());
  msg.data.resize(static_cast<size_t>(msg.step) * image.rows);
  for (int r = 0; r < image.rows; ++r) {
    std::memcpy(&msg.data[static_cast<size_t>(r) * msg.step], image.ptr(r), msg.step);
  }
  return msg;
}

}  // namespace vigil::ros
