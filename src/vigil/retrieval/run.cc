#include "vigil/retrieval/run.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"

namespace vigil::retrieval {
namespace fs = std::filesystem;
namespace {

std::string Trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(begin, end - begin);
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(Trim(field));
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

// Parses a finite double, or throws naming file, line and column.
double ParseNumber(const std::string& text, const fs::path& file, int line, const char* column) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  VIGIL_CHECK(!text.empty() && end == begin + text.size() && std::isfinite(value),
              "{}:{}: column {}: '{}' is not a finite number", file.string(), line, column, text);
  return value;
}

Pose MakePose(const double v[7], const fs::path& file, int line, double tolerance) {
  // v = x y z qx qy qz qw
  const Eigen::Quaterniond q(v[6], v[3], v[4], v[5]);  // Eigen's constructor takes w first
  const double norm = q.norm();
  VIGIL_CHECK(std::abs(norm - 1.0) <= tolerance,
              "{}:{}: quaternion (qx,qy,qz,qw) = ({}, {}, {}, {}) has norm {:.6f}, not unit "
              "(tolerance {})",
              file.string(), line, v[3], v[4], v[5], v[6], norm, tolerance);
  Pose pose;
  pose.position = Eigen::Vector3d(v[0], v[1], v[2]);
  pose.orientation = q.normalized();
  return pose;
}

std::vector<std::string> ReadLines(const fs::path& file) {
  std::ifstream stream(file);
  VIGIL_CHECK(stream.good(), "{}: cannot open pose file", file.string());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(stream, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
    lines.push_back(line);
  }
  return lines;
}

struct CsvPose {
  std::string image;
  Pose pose;
  int line;
};

// poses.csv: image,x,y,z,qx,qy,qz,qw. Rows in file order.
std::vector<CsvPose> ReadPosesCsv(const fs::path& file, const RunOptions& options) {
  const std::vector<std::string> lines = ReadLines(file);
  static const std::vector<std::string> kHeader = {"image", "x", "y", "z", "qx", "qy", "qz", "qw"};
  static const char* kColumns[] = {"x", "y", "z", "qx", "qy", "qz", "qw"};
  size_t first = 0;
  while (first < lines.size() && Trim(lines[first]).empty()) ++first;
  VIGIL_CHECK(first < lines.size(), "{}: empty pose file (expected header {})", file.string(),
              "image,x,y,z,qx,qy,qz,qw");
  VIGIL_CHECK(SplitCsv(lines[first]) == kHeader, "{}:{}: header is '{}', expected '{}'",
              file.string(), first + 1, lines[first], "image,x,y,z,qx,qy,qz,qw");
  std::vector<CsvPose> poses;
  std::map<std::string, int> seen;
  for (size_t i = first + 1; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    if (Trim(lines[i]).empty()) continue;
    const std::vector<std::string> fields = SplitCsv(lines[i]);
    VIGIL_CHECK(fields.size() == 8, "{}:{}: expected 8 comma-separated fields, got {}",
                file.string(), line_no, fields.size());
    VIGIL_CHECK(!fields[0].empty(), "{}:{}: empty image name", file.string(), line_no);
    double v[7];
    for (int k = 0; k < 7; ++k) v[k] = ParseNumber(fields[k + 1], file, line_no, kColumns[k]);
    const Pose pose = MakePose(v, file, line_no, options.quaternion_tolerance);
    const auto [it, inserted] = seen.emplace(fields[0], line_no);
    VIGIL_CHECK(inserted, "{}:{}: image '{}' is listed twice (first on line {})", file.string(),
                line_no, fields[0], it->second);
    poses.push_back({fields[0], pose, line_no});
  }
  VIGIL_CHECK(!poses.empty(), "{}: no pose rows after the header", file.string());
  return poses;
}

struct TimedPose {
  double timestamp;
  Pose pose;
  int line;  // in the trajectory file
};

// TUM trajectory: "timestamp tx ty tz qx qy qz qw" per line, '#' comments. Sorted by time.
std::vector<TimedPose> ReadTumTrajectory(const fs::path& file, const RunOptions& options) {
  const std::vector<std::string> lines = ReadLines(file);
  static const char* kColumns[] = {"timestamp", "tx", "ty", "tz", "qx", "qy", "qz", "qw"};
  std::vector<TimedPose> trajectory;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const std::string line = Trim(lines[i]);
    if (line.empty() || line[0] == '#') continue;
    std::istringstream stream(line);
    std::vector<std::string> fields;
    std::string field;
    while (stream >> field) fields.push_back(field);
    VIGIL_CHECK(fields.size() == 8,
                "{}:{}: expected 8 space-separated fields (timestamp tx ty tz qx qy qz qw), got {}",
                file.string(), line_no, fields.size());
    double v[8];
    for (int k = 0; k < 8; ++k) v[k] = ParseNumber(fields[k], file, line_no, kColumns[k]);
    trajectory.push_back(
        {v[0], MakePose(v + 1, file, line_no, options.quaternion_tolerance), line_no});
  }
  VIGIL_CHECK(!trajectory.empty(), "{}: no poses in TUM trajectory", file.string());
  // std::sort, not stable_sort: libstdc++'s stable_sort buffer ignores the over-alignment of
  // Eigen::Quaterniond under AVX and crashed here. Equal timestamps keep file order through
  // the line number tie-break.
  std::sort(trajectory.begin(), trajectory.end(), [](const TimedPose& a, const TimedPose& b) {
    return a.timestamp < b.timestamp || (a.timestamp == b.timestamp && a.line < b.line);
  });
  return trajectory;
}

// The TUM trajectory file names looked for in a run folder, in order.
const char* const kTumNames[] = {"groundtruth.txt", "trajectory.txt", "poses.txt",
                                 "trajectory.tum"};

}  // namespace

double AngleBetweenDeg(const Eigen::Quaterniond& a, const Eigen::Quaterniond& b) {
  // |dot| handles q and -q being the same rotation; clamp guards acos against rounding.
  const double dot = std::min(1.0, std::abs(a.normalized().dot(b.normalized())));
  return 2.0 * std::acos(dot) * 180.0 / M_PI;
}

const char* PoseSourceName(PoseSource source) {
  switch (source) {
    case PoseSource::kPosesCsv:
      return "poses.csv";
    case PoseSource::kTumTrajectory:
      return "tum";
    case PoseSource::kNone:
      break;
  }
  return "none";
}

int Run::NumPosed() const {
  return static_cast<int>(std::count_if(frames.begin(), frames.end(),
                                        [](const RunFrame& f) { return f.pose.has_value(); }));
}

void RunOptions::Check() const {
  VIGIL_CHECK_OPTION(poses == "auto" || poses == "csv" || poses == "tum" || poses == "none",
                     "poses", "must be auto, csv, tum or none");
  VIGIL_CHECK_OPTION(quaternion_tolerance >= 0 && quaternion_tolerance < 1,
                     "quaternion_tolerance", "must be in [0, 1)");
  VIGIL_CHECK_OPTION(timestamp_tolerance_s >= 0, "timestamp_tolerance_s", "must be >= 0");
  VIGIL_CHECK_OPTION(poses != "none" || pose_file.empty(), "pose_file",
                     "given together with poses = none");
}

std::optional<double> TimestampFromFileName(const std::string& file_name) {
  const std::string stem = fs::path(file_name).stem().string();
  // First a decimal number with a fractional part.
  for (size_t i = 0; i < stem.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(stem[i]))) continue;
    if (i > 0 && std::isdigit(static_cast<unsigned char>(stem[i - 1]))) continue;
    size_t j = i;
    while (j < stem.size() && std::isdigit(static_cast<unsigned char>(stem[j]))) ++j;
    if (j + 1 < stem.size() && stem[j] == '.' &&
        std::isdigit(static_cast<unsigned char>(stem[j + 1]))) {
      size_t k = j + 1;
      while (k < stem.size() && std::isdigit(static_cast<unsigned char>(stem[k]))) ++k;
      return std::strtod(stem.substr(i, k - i).c_str(), nullptr);
    }
  }
  // Else the longest run of digits, when long enough to be a time (e.g. nanoseconds).
  size_t best_begin = 0, best_len = 0;
  for (size_t i = 0; i < stem.size();) {
    if (!std::isdigit(static_cast<unsigned char>(stem[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < stem.size() && std::isdigit(static_cast<unsigned char>(stem[j]))) ++j;
    if (j - i > best_len) best_begin = i, best_len = j - i;
    i = j;
  }
  if (best_len < 6) return std::nullopt;
  return std::strtod(stem.substr(best_begin, best_len).c_str(), nullptr);
}

bool NumberAwareLess(const std::string& a, const std::string& b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (!digit(a[i]) || !digit(b[j])) {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
      continue;
    }
    size_t i_end = i, j_end = j;
    while (i_end < a.size() && digit(a[i_end])) ++i_end;
    while (j_end < b.size() && digit(b[j_end])) ++j_end;
    while (i + 1 < i_end && a[i] == '0') ++i;  // leading zeros do not change the value
    while (j + 1 < j_end && b[j] == '0') ++j;
    if (i_end - i != j_end - j) return i_end - i < j_end - j;  // fewer digits: smaller
    const int order = a.compare(i, i_end - i, b, j, j_end - j);
    if (order != 0) return order < 0;
    i = i_end, j = j_end;
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

namespace {

// Frames in recording order (see Run::frames): the pose rule's direction of travel and the
// report's order both read it.
void SortByRecordingOrder(std::vector<RunFrame>* frames) {
  const bool all_timed = std::all_of(frames->begin(), frames->end(),
                                     [](const RunFrame& f) { return f.timestamp.has_value(); });
  std::sort(frames->begin(), frames->end(), [all_timed](const RunFrame& a, const RunFrame& b) {
    const std::string na = a.image.filename().string(), nb = b.image.filename().string();
    if (all_timed && *a.timestamp != *b.timestamp) return *a.timestamp < *b.timestamp;
    return NumberAwareLess(na, nb);
  });
}

}  // namespace

Run LoadRun(const fs::path& dir, const RunOptions& options) {
  options.Check();
  VIGIL_CHECK(fs::is_directory(dir), "{}: {}", dir.string(),
              fs::exists(dir) ? "is a file, not a run folder" : "run folder does not exist");
  Run run;
  run.dir = dir;
  const std::vector<fs::path> images = io::ListImages(dir);
  VIGIL_CHECK(!images.empty(), "{}: run folder has no images (png, jpg, jpeg, bmp, tif, tiff)",
              dir.string());
  for (const fs::path& image : images) {
    RunFrame frame;
    frame.image = image;
    frame.timestamp = TimestampFromFileName(image.filename().string());
    run.frames.push_back(std::move(frame));
  }
  SortByRecordingOrder(&run.frames);

  // Which pose file, if any.
  fs::path pose_file = options.pose_file;
  PoseSource source = PoseSource::kNone;
  if (options.poses != "none") {
    if (!pose_file.empty()) {
      VIGIL_CHECK(fs::is_regular_file(pose_file), "{}: pose file does not exist",
                  pose_file.string());
      source = options.poses == "tum"   ? PoseSource::kTumTrajectory
               : options.poses == "csv" ? PoseSource::kPosesCsv
               : pose_file.extension() == ".csv" ? PoseSource::kPosesCsv
                                                 : PoseSource::kTumTrajectory;
    } else {
      if (options.poses != "tum" && fs::is_regular_file(dir / "poses.csv")) {
        pose_file = dir / "poses.csv";
        source = PoseSource::kPosesCsv;
      } else if (options.poses != "csv") {
        for (const char* name : kTumNames) {
          if (fs::is_regular_file(dir / name)) {
            pose_file = dir / name;
            source = PoseSource::kTumTrajectory;
            break;
          }
        }
      }
      VIGIL_CHECK(options.poses == "auto" || source != PoseSource::kNone,
                  "{}: poses = {} but no {} found in the run folder", dir.string(), options.poses,
                  options.poses == "csv" ? "poses.csv"
                                         : "groundtruth.txt/trajectory.txt/poses.txt/trajectory.tum");
    }
  }
  run.pose_source = source;
  run.pose_file = source == PoseSource::kNone ? fs::path() : pose_file;

  if (source == PoseSource::kPosesCsv) {
    // Rows name images relative to the run folder; every one must be an image of the run.
    std::map<fs::path, RunFrame*> by_path;
    for (RunFrame& frame : run.frames) by_path[frame.image.lexically_normal()] = &frame;
    for (const CsvPose& row : ReadPosesCsv(pose_file, options)) {
      const fs::path path = (dir / row.image).lexically_normal();
      auto it = by_path.find(path);
      VIGIL_CHECK(it != by_path.end(), "{}:{}: image '{}' {} the run folder {}",
                  pose_file.string(), row.line, row.image,
                  fs::exists(path) ? "is not an image file (png/jpg/bmp/tif) directly in"
                                   : "does not exist in",
                  dir.string());
      VIGIL_CHECK(!it->second->pose.has_value(), "{}:{}: image '{}' is listed twice",
                  pose_file.string(), row.line, row.image);
      it->second->pose = row.pose;
    }
  } else if (source == PoseSource::kTumTrajectory) {
    const std::vector<TimedPose> trajectory = ReadTumTrajectory(pose_file, options);
    for (RunFrame& frame : run.frames) {
      VIGIL_CHECK(frame.timestamp.has_value(),
                  "{}: image '{}' has no timestamp in its name, needed to look it up in the TUM "
                  "trajectory {}",
                  dir.string(), frame.image.filename().string(), pose_file.string());
      const double t = *frame.timestamp;
      auto it = std::lower_bound(trajectory.begin(), trajectory.end(), t,
                                 [](const TimedPose& p, double value) { return p.timestamp < value; });
      const TimedPose* best = nullptr;
      if (it != trajectory.end()) best = &*it;
      if (it != trajectory.begin()) {
        const TimedPose* prev = &*(it - 1);
        if (best == nullptr || t - prev->timestamp <= best->timestamp - t) best = prev;
      }
      if (best != nullptr && std::abs(best->timestamp - t) <= options.timestamp_tolerance_s) {
        frame.pose = best->pose;
      }
    }
  }
  return run;
}

}  // namespace vigil::retrieval
