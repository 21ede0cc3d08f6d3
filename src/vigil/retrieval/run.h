// Runs: a recording of a route as a folder of images, optionally with camera poses.
//
// A run is what a robot records on one pass: the reference run (clean) and later query runs.
// Poses come from one of two files:
//   - `poses.csv` with header `image,x,y,z,qx,qy,qz,qw`: one row per image file name (relative
//     to the run folder), position in metres, orientation as a unit quaternion (Hamilton,
//     x-y-z-w order as in ROS / Eigen's coeffs()). Every listed image must exist.
//   - a TUM RGB-D trajectory (`timestamp tx ty tz qx qy qz qw`, '#' comments; Sturm et al.,
//     IROS 2012): images are matched to the pose with the nearest timestamp, the image
//     timestamp being the decimal number in its file name ("1305031102.175304.png",
//     "s0_1341847981.726650_v0.png"); an image farther than the tolerance from every pose has
//     no pose.
// or none at all (reference selection then falls back to appearance).
// The pose convention is whatever the recording uses, the same for reference and query runs
// (camera-to-world in TUM and in changes-freiburg); only relative distances and angles are used.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

namespace vigil::retrieval {

struct Pose {
  Eigen::Vector3d position = Eigen::Vector3d::Zero();               // metres
  Eigen::Quaterniond orientation = Eigen::Quaterniond::Identity();  // unit quaternion
};

// Angle of the relative rotation between two orientations, in degrees, in [0, 180].
double AngleBetweenDeg(const Eigen::Quaterniond& a, const Eigen::Quaterniond& b);

struct RunFrame {
  std::filesystem::path image;       // run folder / file name
  std::optional<Pose> pose;          // absent when the run has no pose for this image
  std::optional<double> timestamp;   // seconds, parsed from the file name when it has one
};

enum class PoseSource { kNone, kPosesCsv, kTumTrajectory };
const char* PoseSourceName(PoseSource source);  // "none" | "poses.csv" | "tum"

struct Run {
  std::filesystem::path dir;         // the run folder
  std::vector<RunFrame> frames;      // every image of the folder, in recording order:
                                     // by file-name timestamp when every image has one, else
                                     // by file name with numbers by value (frame_2, frame_10)
  PoseSource pose_source = PoseSource::kNone;
  std::filesystem::path pose_file;   // the file the poses came from (empty for kNone)
  int NumPosed() const;              // frames with a pose
};

struct RunOptions {
  // Where poses come from: "auto" (poses.csv in the folder, else a TUM file named
  // groundtruth.txt / trajectory.txt / poses.txt / trajectory.tum, else none), "csv", "tum",
  // or "none" (ignore any pose file).
  std::string poses = "auto";
  // An explicit pose file (csv when it ends in .csv, TUM otherwise); empty = look in the folder.
  std::filesystem::path pose_file;
  // Largest accepted | |q| - 1 | of a quaternion as written in the file (it is then normalised).
  double quaternion_tolerance = 1e-3;
  // TUM: largest |image timestamp - pose timestamp| in seconds for an image to get that pose.
  double timestamp_tolerance_s = 0.02;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("poses", s.poses);
    v("pose_file", s.pose_file);
    v("quaternion_tolerance", s.quaternion_tolerance);
    v("timestamp_tolerance_s", s.timestamp_tolerance_s);
  }
  void Check() const;
};

// Loads the run in `dir`. Throws vigil::Error naming the file (and line) for: a missing or
// empty folder, a pose file that cannot be read, a bad header or row, a non-finite number, a
// quaternion farther than the tolerance from unit length, an image listed twice or missing
// from the folder, and (TUM) images without a timestamp in their name.
Run LoadRun(const std::filesystem::path& dir, const RunOptions& options = {});

// The timestamp in an image file name: the first decimal number with a fractional part
// ("s0_1341847981.726650_v0.png" -> 1341847981.72665), else the longest run of digits when it
// has >= 6 digits; nullopt when there is none.
std::optional<double> TimestampFromFileName(const std::string& file_name);

// File-name order with digit runs compared by value: "frame_2.png" before "frame_10.png",
// "a_007" equal in rank to "a_7" up to the final plain comparison that keeps the order total.
bool NumberAwareLess(const std::string& a, const std::string& b);

}  // namespace vigil::retrieval
