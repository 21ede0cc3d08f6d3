#include "vigil/events/events.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "vigil/util/check.h"

namespace vigil::events {
using nlohmann::json;

void EventOptions::Check() const {
  VIGIL_CHECK_OPTION(max_gap_frames >= 0, "events.max_gap_frames",
                     fmt::format("must be >= 0, got {}", max_gap_frames));
  VIGIL_CHECK_OPTION(std::isfinite(min_overlap) && min_overlap >= 0 && min_overlap <= 1,
                     "events.min_overlap", fmt::format("must be in [0, 1], got {}", min_overlap));
  VIGIL_CHECK_OPTION(fallback_max_frames >= 1, "events.fallback_max_frames",
                     fmt::format("must be >= 1, got {}", fallback_max_frames));
  VIGIL_CHECK_OPTION(std::isfinite(max_position_distance_m) && max_position_distance_m >= 0,
                     "events.max_position_distance_m",
                     fmt::format("must be finite and >= 0 (0 = off), got {}",
                                 max_position_distance_m));
}

double OverlapOfSmaller(const cv::Rect2d& a, const cv::Rect2d& b) {
  const double smaller = std::min(a.area(), b.area());
  if (!(smaller > 0)) return 0;
  return (a & b).area() / smaller;
}

cv::Rect2d WarpBox(const cv::Rect2d& box, const cv::Mat& homography) {
  const cv::Matx33d h(homography);
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  const cv::Vec3d corners[4] = {{box.x, box.y, 1},
                                {box.x + box.width, box.y, 1},
                                {box.x, box.y + box.height, 1},
                                {box.x + box.width, box.y + box.height, 1}};
  for (const cv::Vec3d& c : corners) {
    const cv::Vec3d p = h * c;
    // A corner on or behind the line at infinity has no image: the box does not map to a box.
    if (!(p[2] > 1e-12)) return {};
    x0 = std::min(x0, p[0] / p[2]);
    y0 = std::min(y0, p[1] / p[2]);
    x1 = std::max(x1, p[0] / p[2]);
    y1 = std::max(y1, p[1] / p[2]);
  }
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return {};
  return {x0, y0, x1 - x0, y1 - y0};
}

namespace {

bool KnownLabel(const std::string& label) { return !label.empty() && label != "unknown"; }

cv::Rect2d ToRect2d(const cv::Rect& r) { return {double(r.x), double(r.y), double(r.width), double(r.height)}; }

// Condition 4 of the header: overlap in the common reference image, or in the query images
// of nearby frames.
bool Overlaps(const Observation& a, const Observation& b, const EventOptions& options) {
  const bool common_reference = a.reference >= 0 && a.reference == b.reference &&
                                !a.query_to_reference.empty() && !b.query_to_reference.empty();
  if (common_reference) {
    const cv::Rect2d wa = WarpBox(ToRect2d(a.bbox), a.query_to_reference);
    const cv::Rect2d wb = WarpBox(ToRect2d(b.bbox), b.query_to_reference);
    return OverlapOfSmaller(wa, wb) >= options.min_overlap && OverlapOfSmaller(wa, wb) > 0;
  }
  if (std::abs(b.frame - a.frame) > options.fallback_max_frames) return false;
  const double overlap = OverlapOfSmaller(ToRect2d(a.bbox), ToRect2d(b.bbox));
  return overlap >= options.min_overlap && overlap > 0;
}

bool Linked(const Observation& a, const Observation& b, const EventOptions& options) {
  if (a.frame == b.frame) return false;
  if (std::abs(b.frame - a.frame) - 1 > options.max_gap_frames) return false;
  if (a.kind != b.kind) return false;
  if (options.require_same_label && KnownLabel(a.label) && KnownLabel(b.label) &&
      a.label != b.label) {
    return false;
  }
  if (options.max_position_distance_m > 0 && a.position && b.position &&
      (*a.position - *b.position).norm() > options.max_position_distance_m) {
    return false;
  }
  return Overlaps(a, b, options);
}

// Union-find with path halving; the root is the smallest index so components are canonical.
int Find(std::vector<int>& parent, int i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

void Union(std::vector<int>& parent, int a, int b) {
  a = Find(parent, a);
  b = Find(parent, b);
  if (a != b) parent[std::max(a, b)] = std::min(a, b);
}

}  // namespace

std::vector<ChangeEvent> GroupIntoEvents(const std::vector<Observation>& observations,
                                         const EventOptions& options) {
  options.Check();
  const int n = static_cast<int>(observations.size());
  for (int i = 0; i < n; ++i) {
    const Observation& o = observations[i];
    VIGIL_CHECK(o.frame >= 0, "events: observation {} has frame {} (must be >= 0)", i, o.frame);
    VIGIL_CHECK(o.query_to_reference.empty() ||
                    (o.query_to_reference.rows == 3 && o.query_to_reference.cols == 3 &&
                     o.query_to_reference.type() == CV_64F),
                "events: observation {} (frame {}): homography must be 3x3 CV_64F, got {}x{} type {}",
                i, o.frame, o.query_to_reference.rows, o.query_to_reference.cols,
                o.query_to_reference.type());
  }

  // Visit pairs in frame order so only those within the time window are compared.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::make_pair(observations[a].frame, observations[a].anomaly) <
           std::make_pair(observations[b].frame, observations[b].anomaly);
  });
  std::vector<int> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  const int window = options.max_gap_frames + 1;
  for (int x = 0; x < n; ++x) {
    const Observation& a = observations[order[x]];
    for (int y = x + 1; y < n; ++y) {
      const Observation& b = observations[order[y]];
      if (b.frame - a.frame > window) break;
      if (Linked(a, b, options)) Union(parent, order[x], order[y]);
    }
  }

  std::map<int, std::vector<int>> components;  // root -> members in frame order
  for (int i : order) components[Find(parent, i)].push_back(i);

  std::vector<ChangeEvent> events;
  for (const auto& [root, members] : components) {
    ChangeEvent e;
    e.observations = members;
    e.kind = observations[members.front()].kind;
    e.first_frame = observations[members.front()].frame;
    e.last_frame = observations[members.back()].frame;
    std::map<std::string, int> labels;
    Eigen::Vector3d sum = Eigen::Vector3d::Zero();
    int with_position = 0;
    for (int i : members) {
      const Observation& o = observations[i];
      if (KnownLabel(o.label)) labels[o.label]++;
      if (e.best_observation < 0 || o.score > e.max_score) {
        e.max_score = o.score;
        e.best_observation = i;
      }
      if (o.position) {
        sum += *o.position;
        ++with_position;
      }
    }
    // Most frequent known label; ties go to the alphabetically first (std::map order).
    int best_count = 0;
    for (const auto& [label, count] : labels) {
      if (count > best_count) {
        best_count = count;
        e.label = label;
      }
    }
    if (with_position > 0) e.position = sum / with_position;
    events.push_back(std::move(e));
  }
  // By first frame, then by smallest observation index: independent of the input order.
  std::sort(events.begin(), events.end(), [](const ChangeEvent& a, const ChangeEvent& b) {
    if (a.first_frame != b.first_frame) return a.first_frame < b.first_frame;
    return *std::min_element(a.observations.begin(), a.observations.end()) <
           *std::min_element(b.observations.begin(), b.observations.end());
  });
  for (size_t i = 0; i < events.size(); ++i) events[i].id = static_cast<int>(i);
  return events;
}

std::vector<int> FramesOf(const ChangeEvent& event, const std::vector<Observation>& observations) {
  std::vector<int> frames;
  for (int i : event.observations) {
    VIGIL_CHECK(i >= 0 && i < static_cast<int>(observations.size()),
                "events: observation index {} out of range ({} observations)", i, observations.size());
    frames.push_back(observations[i].frame);
  }
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  return frames;
}

json EventsToJson(const std::vector<ChangeEvent>& events,
                  const std::vector<Observation>& observations,
                  const std::vector<std::string>& query_names) {
  auto name = [&](int frame) -> std::string {
    if (query_names.empty()) return "";
    VIGIL_CHECK(frame >= 0 && frame < static_cast<int>(query_names.size()),
                "events: frame {} has no query name ({} names)", frame, query_names.size());
    return query_names[frame];
  };
  auto observation = [&](int i) {
    VIGIL_CHECK(i >= 0 && i < static_cast<int>(observations.size()),
                "events: observation index {} out of range ({} observations)", i,
                observations.size());
    const Observation& o = observations[i];
    return json{{"frame", o.frame},
                {"query", name(o.frame)},
                {"anomaly", o.anomaly},
                {"reference", o.reference},
                {"bbox", {o.bbox.x, o.bbox.y, o.bbox.width, o.bbox.height}},
                {"score", o.score}};
  };
  json out = json::array();
  for (const ChangeEvent& e : events) {
    json list = json::array();
    for (int i : e.observations) list.push_back(observation(i));
    const std::vector<int> frames = FramesOf(e, observations);
    out.push_back({{"id", e.id},
                   {"kind", e.kind},
                   {"label", e.label},
                   {"first_frame", e.first_frame},
                   {"last_frame", e.last_frame},
                   {"num_frames", frames.size()},
                   {"num_observations", e.observations.size()},
                   {"first_query", name(e.first_frame)},
                   {"last_query", name(e.last_frame)},
                   {"max_score", e.max_score},
                   {"position", e.position ? json{e.position->x(), e.position->y(), e.position->z()}
                                           : json(nullptr)},
                   {"best", e.best_observation >= 0 ? observation(e.best_observation) : json(nullptr)},
                   {"observations", std::move(list)}});
  }
  return out;
}

}  // namespace vigil::events
