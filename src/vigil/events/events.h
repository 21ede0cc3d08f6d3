// Change events: the anomalies of a mission grouped into the physical changes they show, so a
// reader asks "what changed on this route" and gets one answer per change, not one per frame.
//
// A camera moving along a route sees the same new (or missing) object in several consecutive
// query frames; each frame reports it as its own anomaly. GroupIntoEvents links two
// observations when they are likely the same change and takes the connected components of the
// links (union-find), in the spirit of tracking-by-detection with an overlap association
// (e.g. Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016, which links detections
// of consecutive frames by box IoU), here without a motion model: the frames' homographies to
// their reference image already say where a box lands.
//
// Two observations a (frame fa) and b (frame fb > fa) are linked when all of these hold:
//  1. Near in time: fb - fa - 1 <= max_gap_frames, i.e. at most max_gap_frames frames in between
//     did not report it (a detector misses a change now and then: blur, occlusion, a frame
//     flagged as a localisation error). Observations of the same frame are never linked
//     directly: the detector already separated them (they may still end in one event through
//     a third observation that overlaps both, e.g. an object split in one frame only).
//  2. Same kind ("new", "missing", ...): a new object and a missing one at the same place are
//     two different changes (something was replaced), so they never merge.
//  3. Labels agree when require_same_label is set and both are known ("" and "unknown" mean no
//     class): a chair and a person at the same place are two things.
//  4. Overlapping in a common frame:
//     - both compared with the same reference image, both with a homography: each box's
//       corners are mapped into the reference image and replaced by their axis-aligned bounds
//       (the detector's boxes are themselves axis-aligned bounds of masks, so the warped box is
//       the same kind of over-approximation); the overlap is intersection over the smaller
//       area, >= min_overlap. The reference image is the common frame that removes the camera
//       motion between the two queries.
//     - otherwise (different references, or a homography missing): the query boxes are
//       compared directly, which is only meaningful when the camera moved little between the
//       two frames, so this fallback applies only when fb - fa <= fallback_max_frames.
//     Intersection over the smaller area rather than IoU: a change seen whole in one frame and
//     cut by the image border (or half occluded) in the next still overlaps fully.
//  5. Near in space: when both observations have a camera position, they are at most
//     max_position_distance_m apart (guards the image-overlap test against two different
//     places that happen to look alike to the homography or to the query boxes).
//
// The result is independent of the order of the input: events are numbered by their first
// frame, then by their smallest observation index.
//
// No file I/O; the caller fills Observations from its typed results (or from the per-query
// JSON it wrote) and writes EventsToJson wherever it likes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace vigil::events {

// One anomaly of one query frame.
struct Observation {
  int frame = -1;              // query index in mission order (>= 0)
  int anomaly = -1;            // index in that frame's anomaly list
  int reference = -1;          // reference frame index it was compared with, -1 if unknown
  cv::Rect bbox;               // in the query image, pixels
  cv::Mat query_to_reference;  // 3x3 CV_64F homography query -> reference, empty if none
  std::string kind;            // "new" | "missing" | "moved" | ...
  std::string label;           // segmenter class, "" (or "unknown") if none
  double score = 0;            // the detector's anomaly score
  std::optional<Eigen::Vector3d> position;  // query camera position (pose), metres, if known
};

struct EventOptions {
  int max_gap_frames = 2;        // frames in between two sightings that may miss the change
  double min_overlap = 0.1;      // intersection over the smaller box, in [0, 1] (and > 0 always)
  int fallback_max_frames = 1;   // query-box fallback only between frames this close (>= 1)
  double max_position_distance_m = 2.0;  // metres between camera positions; 0 = not compared
  bool require_same_label = true;  // two different known classes never link

  template <class Self, class Visitor>
  static void Fields(Self& s, Visitor&& v) {
    v("max_gap_frames", s.max_gap_frames);
    v("min_overlap", s.min_overlap);
    v("fallback_max_frames", s.fallback_max_frames);
    v("max_position_distance_m", s.max_position_distance_m);
    v("require_same_label", s.require_same_label);
  }
  // Throws vigil::Error naming the field and the value.
  void Check() const;
};

struct ChangeEvent {
  int id = -1;                    // 0.. in order of first_frame
  int first_frame = -1, last_frame = -1;
  std::vector<int> observations;  // indices into the input, by frame then anomaly
  std::string kind;               // shared by all its observations
  std::string label;              // most frequent known label, "" if none
  double max_score = 0;
  int best_observation = -1;      // index into the input of the highest score
  std::optional<Eigen::Vector3d> position;  // mean of its observations' known positions
};

// Groups observations into change events (rule above). Throws vigil::Error on bad options or
// on an observation with a negative frame or a homography that is not 3x3 CV_64F.
std::vector<ChangeEvent> GroupIntoEvents(const std::vector<Observation>& observations,
                                         const EventOptions& options = {});

// Intersection over the smaller area of two boxes (0 when either is empty); exposed for tests
// and for callers that want the same measure.
double OverlapOfSmaller(const cv::Rect2d& a, const cv::Rect2d& b);

// Axis-aligned bounds of a box's corners mapped by a 3x3 homography (empty when a corner maps
// to infinity or behind the camera, w <= 0).
cv::Rect2d WarpBox(const cv::Rect2d& box, const cv::Mat& homography);

// The query frames an event was seen in, ascending, each once (a gap may lie between them).
// Throws vigil::Error on an observation index outside `observations`.
std::vector<int> FramesOf(const ChangeEvent& event, const std::vector<Observation>& observations);

// The events as a JSON array, one object each:
//   {"id", "kind", "label", "first_frame", "last_frame", "num_frames", "num_observations",
//    "first_query", "last_query", "max_score", "position": [x, y, z] | null,
//    "best": {"frame", "query", "anomaly", "bbox": [x, y, w, h], "score"},
//    "observations": [{"frame", "query", "anomaly", "reference", "bbox", "score"}]}
// query_names[frame] names a frame (its file name); empty names give "" (and an observation
// beyond a non-empty list is an error).
nlohmann::json EventsToJson(const std::vector<ChangeEvent>& events,
                            const std::vector<Observation>& observations,
                            const std::vector<std::string>& query_names);

}  // namespace vigil::events
