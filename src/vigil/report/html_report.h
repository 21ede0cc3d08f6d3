// The self-contained HTML report of an inspection run, in the order a reader asks:
//  - a summary line;
//  - the change events (events/events.h), one row each with its frames, kind, class, position
//    and a query / reference crop side by side (id="events");
//  - a top-down plot of the reference and mission trajectories with the events placed on it
//    (inline SVG, id="trajectory"; a strip in frame order when there are no poses);
//  - a timeline of anomalies per frame along the mission (inline SVG, id="timeline"), frames
//    that could not be inspected and skipped frames marked apart;
//  - one row per query frame (id="frames", each <tr data-status="changed|unchanged|
//    not-inspectable|skipped">) with an embedded thumbnail linking to its full panel, and
//    filters by status (id="filters"); the page applies a filter named in the URL,
//    report.html#filter=changed or #filter=not-inspectable,skipped, on load, and keeps the URL
//    in step when the boxes change, so a filtered view can be linked;
//  - the skipped frames, the calibration plot, per-stage timings and the configuration.
// Images are embedded as data URIs so the file can be mailed or archived alone (the links to
// full-size panels need the panels/ folder beside it). They sit in data-src and a few lines of
// plain JavaScript (no libraries) move them to src as they scroll into view
// (IntersectionObserver), so a long mission opens without decoding every thumbnail.
// When scripts are off the filters do nothing and thumbnails stay unloaded; the rest reads.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vigil/events/events.h"
#include "vigil/report/frame_record.h"

namespace vigil::report {

struct InspectionReportInput {
  std::string title;
  nlohmann::json config;                    // shown as a table
  std::vector<FrameRecord> queries;         // the query frames in mission order
  std::map<std::string, double> total_timings_ms;  // per stage, summed over computed queries
  cv::Mat calibration_plot;                 // optional
  std::vector<SkippedFrame> skipped;        // frames not used, of either run
  // Change events (events/events.h); their frames index `queries`, their observations index
  // `observations`.
  std::vector<events::ChangeEvent> events;
  std::vector<events::Observation> observations;
  // Camera positions (metres, one map frame for both runs): reference_positions in the
  // reference run's order, query_positions[i] of queries[i]; nullopt where a frame has no pose,
  // both empty when the runs have none.
  std::vector<std::optional<Eigen::Vector3d>> reference_positions;
  std::vector<std::optional<Eigen::Vector3d>> query_positions;
  // Event id -> (crop of the query image, crop of the reference image); either may be empty.
  std::map<int, std::pair<cv::Mat, cv::Mat>> event_crops;
};

// Top-down view of positions: the projection onto the plane of the two largest principal axes
// of `basis` (PCA of its known positions). Why not drop a fixed axis: the runs' frame may have
// any axis up (camera frames have y down, robot frames z up, a SLAM map whatever its first
// camera saw), while a robot or a person walking moves on a nearly level plane, which the two
// largest principal axes span whatever the convention. The reference run defines the plane
// because both runs are placed in its map; the mission is projected on the same axes so the
// two overlay. The side the plane is seen from is arbitrary (no up direction is known), so the
// view may be a mirror image of a map. With fewer than two distinct positions in `basis`, x and
// y are kept as they are.
struct TopDownProjection {
  Eigen::Vector3d origin = Eigen::Vector3d::Zero();
  Eigen::Vector3d axis1 = Eigen::Vector3d::UnitX(), axis2 = Eigen::Vector3d::UnitY();
  static TopDownProjection Fit(const std::vector<std::optional<Eigen::Vector3d>>& basis);
  Eigen::Vector2d operator()(const Eigen::Vector3d& p) const {
    return {axis1.dot(p - origin), axis2.dot(p - origin)};
  }
};

// Writes <out_dir>/report.html atomically. Thumbnails come from <out_dir>/panels/<stem>.png.
void WriteInspectionReport(const std::filesystem::path& out_dir, const InspectionReportInput& input);

// Base64 (RFC 4648) of bytes; for data URIs.
std::string Base64Encode(const std::vector<unsigned char>& bytes);
// "data:image/jpeg;base64,..." of an image (JPEG, quality 85), or "" for an empty image.
std::string ImageDataUri(const cv::Mat& image);
// Escapes &, <, >, " for HTML text and attributes.
std::string HtmlEscape(const std::string& text);

}  // namespace vigil::report
