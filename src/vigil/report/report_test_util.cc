#include "vigil/report/report_test_util.h"

#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include "vigil/events/events.h"

namespace vigil::report::synthetic {
namespace fs = std::filesystem;

SyntheticReport MakeSyntheticReport(const fs::path& out_dir, int frames, int num_events, bool poses) {
  SyntheticReport out;
  InspectionReportInput& in = out.input;
  in.title = "synthetic mission";
  in.config = {{"extractor", "superpoint"}};
  in.total_timings_ms = {{"extract", 12.0}, {"match", 3.0}};
  out.nasty_name = "frame_02_<b>bold</b>&\"q\".png";
  fs::create_directories(out_dir / "panels");
  std::vector<int> changed;
  for (int i = 0; i < frames; ++i) {
    const std::string name = i == 2 ? out.nasty_name : fmt::format("frame_{:02d}.png", i);
    FrameRecord q;
    q.query = name;
    q.reference_image = fmt::format("ref_{:02d}.png", i);
    q.reference_rule = "pose";
    q.matches = 100 + i;
    q.timings_ms = {{"extract", 1.0}};
    if (i % 5 == 3) {
      q.localization_error = true;
      q.note = "tiny overlap";
      out.rows_by_status["not-inspectable"]++;
    } else if (i % 5 < 2) {
      for (int k = 0; k <= i % 3; ++k) q.anomalies.push_back({"new", "unknown", 0.8, cv::Rect(10 * k, 10, 20, 20)});
      changed.push_back(i);
      out.rows_by_status["changed"]++;
    } else {
      out.rows_by_status["unchanged"]++;
    }
    in.queries.push_back(q);
    if (i < 3) {
      const fs::path stem = fs::path(name).stem();
      cv::imwrite((out_dir / "panels" / stem).string() + ".png",
                  cv::Mat(48, 64, CV_8UC3, cv::Scalar(40 * i, 100, 200)));
      ++out.thumbnails;
    }
  }
  // Two skipped frames of the query run (their names sort between frames 4/5 and 7/8) and one
  // of the reference run (not a mission frame: no row in the frames table).
  in.skipped = {{"/data/query/frame_04b.png", "query", "unreadable"},
                {"/data/query/frame_07b.png", "query", "too large"},
                {"/data/reference/r.png", "reference", "unreadable"}};
  out.rows_by_status["skipped"] = 2;

  // Events over the changed frames, built as the events stage would write them.
  std::vector<events::Observation> observations;
  std::vector<events::ChangeEvent> list;
  for (int e = 0; e < num_events; ++e) {
    events::ChangeEvent event;
    event.id = e;
    event.kind = e % 3 == 2 ? "missing" : "new";
    event.label = e % 2 ? "chair <&>" : "";
    const int a = changed[e % changed.size()], b = changed[(e + 1) % changed.size()];
    for (int f : {std::min(a, b), std::max(a, b)}) {
      events::Observation o;
      o.frame = f;
      o.anomaly = 0;
      o.reference = f;
      o.bbox = cv::Rect(5, 5, 20, 20);
      o.kind = event.kind;
      o.score = 0.5 + 0.01 * e;
      if (poses && e % 2 == 0) o.position = Eigen::Vector3d(std::cos(0.3 * f) * 3, std::sin(0.3 * f) * 3, 0);
      event.observations.push_back(static_cast<int>(observations.size()));
      observations.push_back(o);
    }
    event.first_frame = std::min(a, b);
    event.last_frame = std::max(a, b);
    event.best_observation = event.observations.back();
    event.max_score = observations[event.best_observation].score;
    if (poses && e % 2 == 0) event.position = observations[event.best_observation].position;
    list.push_back(event);
    if (e % 2 == 0) {
      in.event_crops[e] = {cv::Mat(24, 24, CV_8UC3, cv::Scalar(0, 0, 255)),
                           cv::Mat(24, 24, CV_8UC3, cv::Scalar(0, 255, 0))};
      out.crops += 2;
    }
  }
  in.events = list;
  in.observations = observations;
  out.events = num_events;

  if (poses) {
    // A circle of radius 3 m in a plane tilted 30 degrees about x (a frame whose up axis is
    // not z), the mission 10 cm outside the reference path.
    const double tilt = 30 * M_PI / 180;
    auto on_plane = [&](double angle, double radius) {
      const Eigen::Vector3d p(radius * std::cos(angle), radius * std::sin(angle), 0);
      return Eigen::Vector3d(p.x(), std::cos(tilt) * p.y(), std::sin(tilt) * p.y());
    };
    for (int i = 0; i < frames; ++i) in.reference_positions.push_back(on_plane(0.3 * i, 3.0));
    for (int i = 0; i < frames; ++i) in.query_positions.push_back(on_plane(0.3 * i + 0.1, 3.1));
    in.query_positions[1] = std::nullopt;  // a frame without a pose
  }
  return out;
}

}  // namespace vigil::report::synthetic
