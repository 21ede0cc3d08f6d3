#include "vigil/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <Eigen/Eigenvalues>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/file_util.h"

namespace vigil::report {
namespace fs = std::filesystem;

// Hand-written: no Debian-packaged C++ library we already depend on offers base64 (OpenCV's
// is internal to its persistence code), and the encoder is a dozen lines.
std::string Base64Encode(const std::vector<unsigned char>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t chunk = (uint32_t{bytes[i]} << 16) |
                           (i + 1 < bytes.size() ? uint32_t{bytes[i + 1]} << 8 : 0) |
                           (i + 2 < bytes.size() ? uint32_t{bytes[i + 2]} : 0);
    out.push_back(kAlphabet[(chunk >> 18) & 63]);
    out.push_back(kAlphabet[(chunk >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=');
  }
  return out;
}

std::string ImageDataUri(const cv::Mat& image) {
  if (image.empty()) return "";
  std::vector<unsigned char> jpeg;
  cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
  return "data:image/jpeg;base64," + Base64Encode(jpeg);
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

namespace {

std::string Thumbnail(const fs::path& panel) {
  if (!fs::exists(panel)) return "";
  cv::Mat image = cv::imread(panel.string());
  if (image.empty()) return "";
  cv::Mat small;
  const double scale = 480.0 / image.cols;
  cv::resize(image, small, {}, scale, scale, cv::INTER_AREA);
  return ImageDataUri(small);
}

std::string AnomalySummary(const std::vector<RecordedAnomaly>& anomalies) {
  std::map<std::string, int> counts;
  for (const RecordedAnomaly& a : anomalies) counts[a.kind == "missing" ? "missing" : a.label]++;
  std::string text;
  for (const auto& [label, n] : counts) text += fmt::format("{}{} &times;{}", text.empty() ? "" : ", ", HtmlEscape(label), n);
  return text.empty() ? "&ndash;" : text;
}

// "2nd view: IMAGE, N dropped" and "dense: N dropped" under the reference, when asked.
std::string SecondViewNote(const FrameRecord& q) {
  std::string note;
  if (q.second_view_image) {
    note += fmt::format("<br><small>2nd view: {}, {} dropped</small>", HtmlEscape(*q.second_view_image),
                        q.second_view_dropped);
  }
  if (q.dense_confirmation) note += fmt::format("<br><small>dense map: {} dropped</small>", q.dense_dropped);
  return note;
}

// One row of the frames table: a query frame, or a skipped frame of the query run (no JSON).
struct FrameRow {
  int query = -1;               // index into input.queries, -1 for a skipped frame
  const SkippedFrame* skipped = nullptr;
  std::string name;             // file name
  std::string status;           // FrameRecord::Status or "skipped"
  size_t anomalies = 0;
};

std::string FileName(const std::string& path) { return fs::path(path).filename().string(); }

// Query frames in mission order, with the skipped frames of the query run placed among them by
// file name (the order a run is read in); frames of the reference run are not mission frames.
std::vector<FrameRow> MissionRows(const InspectionReportInput& input) {
  std::vector<FrameRow> rows;
  for (size_t i = 0; i < input.queries.size(); ++i) {
    const FrameRecord& q = input.queries[i];
    rows.push_back({static_cast<int>(i), nullptr, q.query, q.Status(), q.anomalies.size()});
  }
  std::vector<FrameRow> skipped;
  for (const SkippedFrame& s : input.skipped) {
    if (s.run == "query") skipped.push_back({-1, &s, FileName(s.image), "skipped", 0});
  }
  // Insert each before the first query row whose name is greater (stable for equal names).
  for (const FrameRow& s : skipped) {
    auto at = std::find_if(rows.begin(), rows.end(), [&](const FrameRow& r) {
      return r.query >= 0 && r.name > s.name;
    });
    rows.insert(at, s);
  }
  return rows;
}

std::string LazyImage(const std::string& data_uri, const std::string& alt) {
  if (data_uri.empty()) return "";
  return "<img data-src=\"" + data_uri + "\" alt=\"" + HtmlEscape(alt) + "\">";
}

std::string QueryRow(const fs::path& out_dir, const FrameRecord& q, int index) {
  std::ostringstream row;
  const std::string stem = fs::path(q.query).stem().string();
  const std::string status = q.Status();
  const bool flagged = status == "not-inspectable";
  const size_t n = q.anomalies.size();
  const std::string thumb = Thumbnail(out_dir / "panels" / (stem + ".png"));
  row << "<tr id=\"frame-" << index << "\" data-status=\"" << status << "\""
      << (flagged ? " class=flag" : n > 0 ? " class=hit" : "") << ">"
      << "<td>" << index << "</td><td>" << HtmlEscape(q.query) << "</td>"
      << "<td>" << HtmlEscape(q.reference_image.empty() ? "none" : q.reference_image)
      << "<br><small>" << HtmlEscape(q.reference_rule) << "</small>"
      << SecondViewNote(q) << "</td>"
      << "<td>" << n << "</td><td>" << AnomalySummary(q.anomalies) << "</td>"
      << "<td>" << (flagged ? "likely localization error: " + HtmlEscape(q.note) : "") << "</td>"
      << "<td>" << q.matches << "</td>"
      << "<td>" << fmt::format("{:.0f}", q.TotalMs()) << "</td><td>";
  if (!thumb.empty()) {
    row << "<a href=\"panels/" << HtmlEscape(stem) << ".png\">" << LazyImage(thumb, "panel " + stem)
        << "</a>";
  }
  row << "</td></tr>\n";
  return row.str();
}

std::string FrameRows(const fs::path& out_dir, const InspectionReportInput& input,
                      const std::vector<FrameRow>& rows) {
  std::ostringstream out;
  for (const FrameRow& r : rows) {
    if (r.query >= 0) {
      out << QueryRow(out_dir, input.queries[r.query], r.query);
      continue;
    }
    out << "<tr data-status=\"skipped\" class=skip><td></td><td>" << HtmlEscape(r.name)
        << "</td><td>none</td><td></td><td>&ndash;</td><td>skipped: "
        << HtmlEscape(r.skipped->reason) << "</td><td></td><td></td><td></td></tr>\n";
  }
  return out.str();
}

// --- events -----------------------------------------------------------------------------

// A frame of the mission as a link to its row: "<a href=#frame-F>QUERY</a> (F)".
std::string FrameLink(const InspectionReportInput& input, int frame) {
  const bool known = frame >= 0 && frame < static_cast<int>(input.queries.size());
  return fmt::format("<a href=\"#frame-{}\">{}</a> ({})", frame,
                     HtmlEscape(known ? input.queries[frame].query : std::string()), frame);
}

std::string EventRows(const InspectionReportInput& input) {
  std::ostringstream rows;
  for (const events::ChangeEvent& e : input.events) {
    const int id = e.id;
    const std::string& kind = e.kind;
    const std::string& label = e.label;
    const std::optional<Eigen::Vector3d>& position = e.position;
    rows << "<tr class=\"event\" id=\"event-" << id << "\" data-kind=\"" << HtmlEscape(kind)
         << "\"><td>" << id << "</td><td>" << FrameLink(input, e.first_frame);
    if (e.last_frame != e.first_frame) rows << " &ndash; " << FrameLink(input, e.last_frame);
    const int frames = static_cast<int>(events::FramesOf(e, input.observations).size());
    rows << "<br><small>" << frames << (frames == 1 ? " frame" : " frames") << "</small></td><td>"
         << HtmlEscape(kind) << "</td><td>" << (label.empty() ? "&ndash;" : HtmlEscape(label))
         << "</td><td>"
         << (position ? fmt::format("{:.2f}, {:.2f}, {:.2f}", position->x(), position->y(),
                                    position->z())
                      : std::string("&ndash;"))
         << "</td><td>" << fmt::format("{:.2f}", e.max_score) << "</td><td class=crops>";
    auto crops = input.event_crops.find(id);
    if (crops != input.event_crops.end()) {
      rows << LazyImage(ImageDataUri(crops->second.first), fmt::format("event {} query", id))
           << LazyImage(ImageDataUri(crops->second.second), fmt::format("event {} reference", id));
    }
    rows << "</td></tr>\n";
  }
  return rows.str();
}

// --- plots --------------------------------------------------------------------------------

const char* KindColour(const std::string& kind) {
  if (kind == "new") return "#d62728";
  if (kind == "missing") return "#9467bd";
  return "#ff7f0e";
}

// Where an event goes on the trajectory: its own position, else the camera position of its best
// observation's frame, else of its first frame.
std::optional<Eigen::Vector3d> EventPlace(const events::ChangeEvent& e, const InspectionReportInput& input) {
  if (e.position) return e.position;
  auto at = [&](int frame) -> std::optional<Eigen::Vector3d> {
    if (frame < 0 || frame >= static_cast<int>(input.query_positions.size())) return std::nullopt;
    return input.query_positions[frame];
  };
  if (e.best_observation >= 0 && e.best_observation < static_cast<int>(input.observations.size())) {
    if (auto p = at(input.observations[e.best_observation].frame)) return p;
  }
  return at(e.first_frame);
}

std::string TrajectorySvg(const InspectionReportInput& input) {
  constexpr double kWidth = 640, kMaxHeight = 480, kMargin = 24;
  bool any_pose = false;
  for (const auto* list : {&input.reference_positions, &input.query_positions}) {
    for (const auto& p : *list) any_pose = any_pose || p.has_value();
  }
  std::ostringstream svg;
  if (!any_pose) {
    // No poses: the mission as a strip in frame order, events as spans over their frames.
    const int n = std::max<int>(1, static_cast<int>(input.queries.size()));
    constexpr double kHeight = 90;
    const double step = (kWidth - 2 * kMargin) / n;
    svg << fmt::format("<svg id=\"trajectory\" class=\"strip\" width=\"{0}\" height=\"{3}\" "
                       "viewBox=\"0 0 {0} {3}\" xmlns=\"http://www.w3.org/2000/svg\">"
                       "<text x=\"{1}\" y=\"14\" font-size=\"12\">no poses: frames in mission "
                       "order</text><line x1=\"{1}\" y1=\"40\" x2=\"{2}\" y2=\"40\" stroke=\"#1f77b4\" "
                       "stroke-width=\"3\"/>",
                       kWidth, kMargin, kWidth - kMargin, kHeight);
    for (const events::ChangeEvent& e : input.events) {
      const int id = e.id;
      const double x0 = kMargin + step * e.first_frame;
      const double x1 = kMargin + step * (e.last_frame + 1);
      svg << fmt::format("<a href=\"#event-{0}\"><rect class=\"event-marker\" data-event=\"{0}\" "
                         "x=\"{1:.1f}\" y=\"30\" width=\"{2:.1f}\" height=\"20\" fill=\"{3}\" "
                         "opacity=\"0.7\"><title>event {0}: {4}</title></rect></a>"
                         "<text x=\"{1:.1f}\" y=\"66\" font-size=\"11\">{0}</text>",
                         id, x0, std::max(2.0, x1 - x0), KindColour(e.kind),
                         HtmlEscape(e.kind + " " + e.label));
    }
    svg << "</svg>";
    return svg.str();
  }
  bool reference_has_pose = false;
  for (const auto& p : input.reference_positions) reference_has_pose |= p.has_value();
  const TopDownProjection project = TopDownProjection::Fit(
      reference_has_pose ? input.reference_positions : input.query_positions);
  std::vector<Eigen::Vector2d> all;
  auto projected = [&](const std::vector<std::optional<Eigen::Vector3d>>& list) {
    std::vector<Eigen::Vector2d> out;
    for (const auto& p : list) {
      if (p) out.push_back(project(*p));
    }
    all.insert(all.end(), out.begin(), out.end());
    return out;
  };
  const auto ref = projected(input.reference_positions);
  const auto mission = projected(input.query_positions);
  std::vector<std::pair<const events::ChangeEvent*, Eigen::Vector2d>> placed;
  for (const events::ChangeEvent& e : input.events) {
    if (auto p = EventPlace(e, input)) {
      placed.push_back({&e, project(*p)});
      all.push_back(placed.back().second);
    }
  }
  Eigen::Vector2d lo = all.front(), hi = all.front();
  for (const auto& p : all) {
    lo = lo.cwiseMin(p);
    hi = hi.cwiseMax(p);
  }
  const Eigen::Vector2d span = (hi - lo).cwiseMax(1e-9);
  // One scale for both axes so distances read the same in every direction; y grows upwards.
  const double scale = std::min((kWidth - 2 * kMargin) / span.x(), (kMaxHeight - 2 * kMargin) / span.y());
  // A route that is nearly a line gets a low plot, not a tall empty one.
  const double height = std::max(140.0, std::min(kMaxHeight, span.y() * scale + 2 * kMargin + 30));
  const Eigen::Vector2d centre = (lo + hi) / 2;
  auto xy = [&](const Eigen::Vector2d& p) {
    return Eigen::Vector2d(kWidth / 2 + (p.x() - centre.x()) * scale,
                           (height - 20) / 2 - (p.y() - centre.y()) * scale);
  };
  auto polyline = [&](const std::vector<Eigen::Vector2d>& points, const char* id,
                      const char* colour, const char* dash) {
    std::string pts;
    for (const auto& p : points) {
      const Eigen::Vector2d q = xy(p);
      pts += fmt::format("{:.1f},{:.1f} ", q.x(), q.y());
    }
    return fmt::format("<polyline id=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" "
                       "stroke-width=\"2\" stroke-dasharray=\"{}\"/>",
                       id, pts, colour, dash);
  };
  svg << fmt::format("<svg id=\"trajectory\" class=\"topdown\" width=\"{0}\" height=\"{1}\" "
                     "viewBox=\"0 0 {0} {1}\" xmlns=\"http://www.w3.org/2000/svg\">"
                     "<rect width=\"{0}\" height=\"{1}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
                     kWidth, height);
  svg << polyline(ref, "reference-path", "#999", "6 3") << polyline(mission, "mission-path", "#1f77b4", "none");
  if (!mission.empty()) {
    const Eigen::Vector2d s = xy(mission.front());
    svg << fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#1f77b4\"><title>mission "
                       "start</title></circle>",
                       s.x(), s.y());
  }
  // Events at (nearly) the same place (one 12 px cell) share one label listing their ids, so
  // the numbers do not print over each other.
  std::map<std::pair<int, int>, std::pair<Eigen::Vector2d, std::vector<int>>> labels;
  for (const auto& [e, p] : placed) {
    const Eigen::Vector2d q = xy(p);
    const int id = e->id;
    auto& label = labels[{int(std::lround(q.x() / 12)), int(std::lround(q.y() / 12))}];
    if (label.second.empty()) label.first = q;
    label.second.push_back(id);
    svg << fmt::format("<a href=\"#event-{0}\"><circle class=\"event-marker\" data-event=\"{0}\" "
                       "cx=\"{1:.1f}\" cy=\"{2:.1f}\" r=\"7\" fill=\"{3}\" fill-opacity=\"0.8\">"
                       "<title>event {0}: {4}</title></circle></a>",
                       id, q.x(), q.y(), KindColour(e->kind), HtmlEscape(e->kind + " " + e->label));
  }
  for (const auto& [cell, label] : labels) {
    std::string text;
    for (size_t i = 0; i < label.second.size() && i < 4; ++i) {
      text += (i ? "," : "") + std::to_string(label.second[i]);
    }
    if (label.second.size() > 4) text += fmt::format(" +{}", label.second.size() - 4);
    svg << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>",
                       label.first.x() + 8, label.first.y() - 8, text);
  }
  // Scale bar: a round number of metres near a fifth of the width.
  const double metres = std::pow(10.0, std::floor(std::log10((kWidth / 5) / scale)));
  svg << fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2:.1f}\" y2=\"{1}\" stroke=\"#222\" "
                     "stroke-width=\"2\"/><text x=\"{0}\" y=\"{3}\" font-size=\"11\">{4:g} m</text>",
                     kMargin, height - 10, kMargin + metres * scale, height - 14, metres);
  svg << "</svg><p><small>Seen from the plane of the reference run's two main directions. "
         "Dashed grey: reference run; blue: mission (dot: start); circles: events (red new, "
         "purple missing, orange other) at their position, else at their frame's camera.</small></p>";
  if (placed.size() < input.events.size()) {
    svg << fmt::format("<p><small>{} events have no position and are not on the plot.</small></p>",
                       input.events.size() - placed.size());
  }
  return svg.str();
}

std::string TimelineSvg(const InspectionReportInput& input, const std::vector<FrameRow>& rows) {
  constexpr double kWidth = 900, kBars = 80, kTop = 10;
  const int n = std::max<int>(1, static_cast<int>(rows.size()));
  const double step = kWidth / n;
  size_t most = 1;
  for (const FrameRow& r : rows) most = std::max(most, r.anomalies);
  std::map<int, double> slot_of_query;  // query index -> x of its slot
  std::ostringstream svg;
  const double height = kTop + kBars + 40;
  svg << fmt::format("<svg id=\"timeline\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                     "xmlns=\"http://www.w3.org/2000/svg\"><line x1=\"0\" y1=\"{2}\" x2=\"{0}\" "
                     "y2=\"{2}\" stroke=\"#888\"/>",
                     kWidth, height, kTop + kBars);
  for (size_t i = 0; i < rows.size(); ++i) {
    const FrameRow& r = rows[i];
    const double x = i * step;
    const double w = std::max(1.0, step - 1);
    if (r.query >= 0) slot_of_query[r.query] = x;
    std::string shape;
    if (r.status == "changed") {
      const double h = kBars * r.anomalies / most;
      shape = fmt::format("<rect class=\"bar changed\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                          "height=\"{:.1f}\" fill=\"#ff7f0e\">",
                          x, kTop + kBars - h, w, h);
    } else if (r.status == "not-inspectable") {
      shape = fmt::format("<rect class=\"bar not-inspectable\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
                          "height=\"{}\" fill=\"#bbb\" opacity=\"0.6\">",
                          x, kTop, w, kBars);
    } else if (r.status == "skipped") {
      shape = fmt::format("<rect class=\"bar skipped\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
                          "height=\"{}\" fill=\"none\" stroke=\"#d62728\" stroke-dasharray=\"3 2\">",
                          x, kTop, w, kBars);
    } else {
      shape = fmt::format("<rect class=\"bar unchanged\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
                          "height=\"3\" fill=\"#2ca02c\">",
                          x, kTop + kBars - 3, w);
    }
    const std::string title = fmt::format("<title>{}: {}{}</title></rect>", HtmlEscape(r.name),
                                          r.status, r.status == "changed"
                                                        ? fmt::format(", {} anomalies", r.anomalies)
                                                        : "");
    if (r.query >= 0) {
      svg << "<a href=\"#frame-" << r.query << "\">" << shape << title << "</a>";
    } else {
      svg << shape << title;
    }
  }
  // Events as spans under the axis, from their first to their last frame.
  int lane = 0;
  for (const events::ChangeEvent& e : input.events) {
    auto a = slot_of_query.find(e.first_frame);
    auto b = slot_of_query.find(e.last_frame);
    if (a == slot_of_query.end() || b == slot_of_query.end()) continue;
    const double y = kTop + kBars + 6 + 6 * (lane++ % 5);
    svg << fmt::format("<a href=\"#event-{0}\"><rect class=\"span\" x=\"{1:.1f}\" y=\"{2:.1f}\" "
                       "width=\"{3:.1f}\" height=\"4\" fill=\"{4}\"><title>event {0}</title></rect></a>",
                       e.id, a->second, y, std::max(2.0, b->second - a->second + step - 1),
                       KindColour(e.kind));
  }
  svg << "</svg>";
  return svg.str();
}

// Filters by status and lazy images; plain JavaScript, no libraries. A filter in the URL hash
// (#filter=changed,skipped) is applied on load so a filtered view can be linked (and tested).
constexpr const char* kScript = R"JS(<script>
(function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[data-filter]'));
  var rows = Array.prototype.slice.call(document.querySelectorAll('#frames tr[data-status]'));
  function apply() {
    var on = {};
    boxes.forEach(function (b) { on[b.getAttribute('data-filter')] = b.checked; });
    var shown = 0;
    rows.forEach(function (r) {
      r.hidden = !on[r.getAttribute('data-status')];
      if (!r.hidden) shown++;
    });
    document.getElementById('shown').textContent = String(shown);
  }
  function fromHash() {
    var m = /(?:^#|&)filter=([^&]*)/.exec(window.location.hash);
    if (!m) return;
    var want = decodeURIComponent(m[1]).split(',');
    boxes.forEach(function (b) { b.checked = want.indexOf(b.getAttribute('data-filter')) >= 0; });
  }
  boxes.forEach(function (b) {
    b.addEventListener('change', function () {
      var on = boxes.filter(function (x) { return x.checked; })
                    .map(function (x) { return x.getAttribute('data-filter'); });
      history.replaceState(null, '', '#filter=' + on.join(','));
      apply();
    });
  });
  // A link to a frame (#frame-N, from the events list or the timeline) shows its row even when
  // the filter hides its status.
  function reveal() {
    if (!/^#frame-\d+$/.test(window.location.hash)) return;
    var row = document.getElementById(window.location.hash.slice(1));
    if (!row || !row.hidden) return;
    boxes.forEach(function (b) {
      if (b.getAttribute('data-filter') === row.getAttribute('data-status')) b.checked = true;
    });
    apply();
    row.scrollIntoView();
  }
  window.addEventListener('hashchange', function () { fromHash(); apply(); reveal(); });
  fromHash();
  apply();
  var images = Array.prototype.slice.call(document.querySelectorAll('img[data-src]'));
  function load(img) { img.src = img.getAttribute('data-src'); img.removeAttribute('data-src'); }
  // Images already on screen (or within 400 px of it) load now, the rest when scrolled near:
  // the first screen never waits for the observer's first callback.
  function onScreen(img) {
    if (img.offsetParent === null) return false;  // in a filtered-out row
    var r = (img.parentElement || img).getBoundingClientRect();
    return r.top < window.innerHeight + 400 && r.bottom > -400;
  }
  var observer = 'IntersectionObserver' in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting) { load(e.target); observer.unobserve(e.target); }
    });
  }, {rootMargin: '400px'}) : null;
  images.forEach(function (img) {
    if (!observer || onScreen(img)) load(img); else observer.observe(img);
  });
  document.body.setAttribute('data-ready', '1');
})();
</script>
)JS";

std::string TimingRows(const std::map<std::string, double>& totals, size_t computed) {
  std::ostringstream rows;
  for (const auto& [stage, ms] : totals) {
    rows << fmt::format("<tr><td>{}</td><td>{:.0f}</td><td>{:.1f}</td></tr>\n", HtmlEscape(stage),
                        ms, computed > 0 ? ms / computed : 0.0);
  }
  return rows.str();
}

}  // namespace

TopDownProjection TopDownProjection::Fit(const std::vector<std::optional<Eigen::Vector3d>>& basis) {
  std::vector<Eigen::Vector3d> points;
  for (const auto& p : basis) {
    if (p) points.push_back(*p);
  }
  TopDownProjection out;
  if (points.empty()) return out;
  Eigen::Vector3d mean = Eigen::Vector3d::Zero();
  for (const auto& p : points) mean += p;
  mean /= static_cast<double>(points.size());
  out.origin = mean;
  Eigen::Matrix3d covariance = Eigen::Matrix3d::Zero();
  for (const auto& p : points) covariance += (p - mean) * (p - mean).transpose();
  if (!(covariance.trace() > 1e-18)) return out;  // one distinct position: no plane to fit
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> solver(covariance);
  // Eigenvalues ascend: columns 2 and 1 are the two largest principal axes.
  Eigen::Vector3d a1 = solver.eigenvectors().col(2), a2 = solver.eigenvectors().col(1);
  // Eigenvectors have no sign; fix one so the same positions always give the same picture:
  // the largest component of each axis positive.
  auto canonical = [](Eigen::Vector3d v) {
    Eigen::Index i;
    v.cwiseAbs().maxCoeff(&i);
    return v[i] < 0 ? Eigen::Vector3d(-v) : v;
  };
  out.axis1 = canonical(a1);
  out.axis2 = canonical(a2);
  return out;
}

void WriteInspectionReport(const fs::path& out_dir, const InspectionReportInput& input) {
  size_t with_anomalies = 0, flagged = 0, anomalies = 0, computed = 0, unconfirmed = 0;
  for (const FrameRecord& q : input.queries) {
    anomalies += q.anomalies.size();
    with_anomalies += !q.anomalies.empty();
    flagged += q.localization_error;
    unconfirmed += q.second_view_dropped + q.dense_dropped;
  }
  computed = input.queries.size();
  const std::vector<FrameRow> rows = MissionRows(input);
  std::map<std::string, int> by_status;
  for (const FrameRow& r : rows) by_status[r.status]++;

  std::ostringstream html;
  html << "<!DOCTYPE html><html><head><meta charset=utf-8><title>" << HtmlEscape(input.title)
       << "</title><style>body{font-family:sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
          "vertical-align:top;text-align:left}tr.hit{background:#fff3e6}tr.flag{background:#eee;"
          "color:#777}tr.skip{color:#a33}img{max-width:480px}td.crops{white-space:nowrap}td.crops img{max-width:200px;"
          "max-height:200px;margin-right:4px;vertical-align:top}#filters label{margin-right:1em}svg{display:block;"
          "margin:1em 0}</style></head><body>\n";
  html << "<h1>" << HtmlEscape(input.title) << "</h1>\n";
  html << fmt::format(
      "<p><b>{}</b> queries: <b>{}</b> with changes ({} anomalies), <b>{}</b> flagged as likely "
      "localization errors; {} candidate anomalies dropped because further reference views did "
      "not confirm them.</p>\n",
      input.queries.size(), with_anomalies, anomalies, flagged, unconfirmed);
  html << fmt::format("<p><b>{}</b> change events along the mission.</p>\n", input.events.size());

  html << "<h2>Change events</h2><table id=\"events\"><tr><th>event</th><th>frames</th>"
          "<th>kind</th><th>class</th><th>position (m)</th><th>max score</th>"
          "<th>query | reference</th></tr>\n"
       << EventRows(input) << "</table>\n";
  html << "<h2>Trajectory</h2>" << TrajectorySvg(input) << "\n";
  html << "<h2>Timeline</h2><p><small>Anomalies per frame along the mission; grey: not "
          "inspectable (likely localization error), dashed red: skipped, green: unchanged; "
          "event spans below the axis.</small></p>"
       << TimelineSvg(input, rows) << "\n";

  html << "<h2>Frames</h2><div id=\"filters\">Show: ";
  for (const char* status : {"changed", "unchanged", "not-inspectable", "skipped"}) {
    html << fmt::format("<label><input type=\"checkbox\" data-filter=\"{0}\" checked> {0} ({1})"
                        "</label>",
                        status, by_status.count(status) ? by_status[status] : 0);
  }
  html << "<span><span id=\"shown\">" << rows.size() << "</span> of " << rows.size()
       << " shown</span></div>\n";
  html << "<table id=\"frames\"><tr><th>frame</th><th>query</th><th>reference (rule)</th><th>#</th>"
          "<th>anomalies</th><th>flag</th><th>matches</th><th>ms</th><th>panel</th></tr>\n"
       << FrameRows(out_dir, input, rows) << "</table>\n";
  if (!input.skipped.empty()) {
    html << "<h2 id=\"skipped\">Skipped frames (" << input.skipped.size()
         << ")</h2><table><tr><th>run</th><th>image</th><th>reason</th></tr>\n";
    for (const SkippedFrame& s : input.skipped) {
      html << "<tr><td>" << HtmlEscape(s.run) << "</td><td>" << HtmlEscape(s.image) << "</td><td>"
           << HtmlEscape(s.reason) << "</td></tr>\n";
    }
    html << "</table>\n";
  }
  if (!input.calibration_plot.empty()) {
    html << "<h2>Calibration</h2><img src=\"" << ImageDataUri(input.calibration_plot) << "\">\n";
  }
  html << "<h2>Per-stage timings</h2><table><tr><th>stage</th><th>total ms</th><th>mean ms "
          "per query</th></tr>\n"
       << TimingRows(input.total_timings_ms, computed) << "</table>\n";
  html << "<h2>Configuration</h2><pre>" << HtmlEscape(input.config.dump(2)) << "</pre>\n";
  html << kScript << "</body></html>\n";
  WriteTextFileAtomically(out_dir / "report.html", html.str());
}

}  // namespace vigil::report
