#include "vigil/report/html_report.h"

#include <cmath>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "vigil/report/report_test_util.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::report {
namespace {

TEST(HtmlReport, Base64MatchesRfc4648Vectors) {
  auto encode = [](const std::string& s) {
    return Base64Encode(std::vector<unsigned char>(s.begin(), s.end()));
  };
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(HtmlReport, EscapesMarkup) { EXPECT_EQ(HtmlEscape("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;"); }

TEST(HtmlReport, SummarisesQueriesAndFlags) {
  const auto dir = testing::MakeTempDir("html_report");
  InspectionReportInput input;
  input.title = "run <1>";
  FrameRecord a;
  a.query = "a.png";
  a.reference_image = "r.png";
  a.reference_rule = "pose";
  a.anomalies.push_back({"new", "chair", 0.9, cv::Rect(1, 2, 3, 4)});
  a.second_view_image = "r2.png";
  a.second_view_dropped = 3;
  a.timings_ms = {{"extract", 10.0}};
  FrameRecord b;
  b.query = "b.png";
  b.localization_error = true;
  b.note = "tiny overlap";
  input.queries = {a, b};
  input.total_timings_ms = {{"extract", 10.0}};
  WriteInspectionReport(dir, input);
  const std::string html = ReadFileToString(dir / "report.html");
  EXPECT_NE(html.find("run &lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("<b>2</b> queries: <b>1</b> with changes (1 anomalies), <b>1</b> flagged"),
            std::string::npos);
  EXPECT_NE(html.find("chair &times;1"), std::string::npos);
  EXPECT_NE(html.find("tiny overlap"), std::string::npos);
  EXPECT_NE(html.find("2nd view: r2.png, 3 dropped"), std::string::npos);
  EXPECT_NE(html.find("3 candidate anomalies dropped"), std::string::npos);
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(HtmlReport, HasEverySectionAndOneRowPerFrameAndEvent) {
  const auto dir = vigil::testing::MakeTempDir("html_report_sections");
  const auto synthetic = synthetic::MakeSyntheticReport(dir, 12, 4, /*poses=*/true);
  WriteInspectionReport(dir, synthetic.input);
  const std::string html = ReadFileToString(dir / "report.html");
  for (const char* id : {"events", "trajectory", "timeline", "frames", "filters", "skipped"}) {
    EXPECT_EQ(Count(html, fmt::format("id=\"{}\"", id)), 1) << id;
  }
  // Events come before the frames table.
  EXPECT_LT(html.find("id=\"events\""), html.find("id=\"frames\""));
  EXPECT_EQ(Count(html, "<tr id=\"frame-"), 12);  // query rows; skipped rows have no frame id
  for (const auto& [status, n] : synthetic.rows_by_status) {
    EXPECT_EQ(Count(html, fmt::format("data-status=\"{}\"", status)), n) << status;
  }
  EXPECT_EQ(Count(html, "<tr class=\"event\""), synthetic.events);
  // With poses every event is placed on the top-down plot.
  EXPECT_EQ(Count(html, "class=\"event-marker\""), synthetic.events);
  EXPECT_NE(html.find("class=\"topdown\""), std::string::npos);
  EXPECT_NE(html.find("id=\"reference-path\""), std::string::npos);
  EXPECT_NE(html.find("id=\"mission-path\""), std::string::npos);
  // Timeline: one bar per mission frame, skipped and not inspectable marked apart.
  EXPECT_EQ(Count(html, "class=\"bar "), 12 + 2);
  EXPECT_EQ(Count(html, "class=\"bar skipped\""), 2);
  EXPECT_EQ(Count(html, "class=\"bar not-inspectable\""), synthetic.rows_by_status.at("not-inspectable"));
  // Images wait in data-src for the lazy loader; full panels are linked.
  EXPECT_EQ(Count(html, "<img data-src=\"data:image/jpeg;base64,"), synthetic.thumbnails + synthetic.crops);
  EXPECT_EQ(Count(html, "<img src="), 0);
  EXPECT_EQ(Count(html, "<a href=\"panels/frame_00.png\">"), 1);
  // The existing sections stay.
  EXPECT_NE(html.find("Per-stage timings"), std::string::npos);
  EXPECT_NE(html.find("Configuration"), std::string::npos);
  EXPECT_NE(html.find("<b>4</b> change events"), std::string::npos);
}

TEST(HtmlReport, SkippedFramesSitAmongTheQueriesByName) {
  const auto dir = vigil::testing::MakeTempDir("html_report_order");
  const auto synthetic = synthetic::MakeSyntheticReport(dir, 12, 2, /*poses=*/false);
  WriteInspectionReport(dir, synthetic.input);
  const std::string html = ReadFileToString(dir / "report.html");
  const size_t frames = html.find("id=\"frames\"");
  const size_t f4 = html.find("frame-4\"", frames), s4 = html.find("frame_04b.png", frames),
               f5 = html.find("frame-5\"", frames);
  EXPECT_LT(f4, s4);
  EXPECT_LT(s4, f5);
}

TEST(HtmlReport, EscapesNamesAndLabelsEverywhere) {
  const auto dir = vigil::testing::MakeTempDir("html_report_escape");
  const auto synthetic = synthetic::MakeSyntheticReport(dir, 6, 2, /*poses=*/true);
  WriteInspectionReport(dir, synthetic.input);
  const std::string html = ReadFileToString(dir / "report.html");
  EXPECT_EQ(html.find("<b>bold</b>"), std::string::npos);
  EXPECT_EQ(html.find("chair <&>"), std::string::npos);
  EXPECT_GE(Count(html, HtmlEscape(synthetic.nasty_name)), 1);
  EXPECT_GE(Count(html, "chair &lt;&amp;&gt;"), 1);
}

TEST(HtmlReport, WithoutPosesTheTrajectoryIsAStripInFrameOrder) {
  const auto dir = vigil::testing::MakeTempDir("html_report_strip");
  const auto synthetic = synthetic::MakeSyntheticReport(dir, 10, 3, /*poses=*/false);
  WriteInspectionReport(dir, synthetic.input);
  const std::string html = ReadFileToString(dir / "report.html");
  EXPECT_NE(html.find("id=\"trajectory\" class=\"strip\""), std::string::npos);
  EXPECT_EQ(html.find("mission-path"), std::string::npos);
  EXPECT_EQ(Count(html, "class=\"event-marker\""), 3);
}

TEST(HtmlReport, TopDownProjectionKeepsDistancesOfPointsInATiltedPlane) {
  // Points in the plane through c spanned by u and v (tilted, not containing any axis): the
  // projection onto the two largest principal axes is an isometry of that plane.
  const Eigen::Vector3d c(1, -2, 5), u = Eigen::Vector3d(1, 1, 1).normalized(),
                        v = Eigen::Vector3d(1, -1, 0).normalized();
  std::vector<std::optional<Eigen::Vector3d>> points;
  for (int i = 0; i < 20; ++i) {
    const double a = 2 * M_PI * i / 20;  // a whole ellipse: u and v are its principal axes
    points.push_back(c + u * (4.0 * std::cos(a)) + v * (1.5 * std::sin(a)));
  }
  points.push_back(std::nullopt);  // unknown positions are ignored
  const auto project = TopDownProjection::Fit(points);
  EXPECT_NEAR(std::abs(project.axis1.dot(u)), 1.0, 1e-9);  // the longer extent first
  for (int i = 0; i < 20; ++i) {
    for (int j = i + 1; j < 20; ++j) {
      EXPECT_NEAR((project(*points[i]) - project(*points[j])).norm(), (*points[i] - *points[j]).norm(),
                  1e-9);
    }
  }
  // The sign of each axis is fixed (largest component positive), so the picture is too.
  EXPECT_GT(project.axis1.cwiseAbs().maxCoeff(), 0);
  Eigen::Index k;
  project.axis1.cwiseAbs().maxCoeff(&k);
  EXPECT_GT(project.axis1[k], 0);
  // One distinct position: x and y as they are.
  const auto single = TopDownProjection::Fit({Eigen::Vector3d(1, 2, 3), Eigen::Vector3d(1, 2, 3)});
  EXPECT_NEAR((single(Eigen::Vector3d(2, 4, 9)) - Eigen::Vector2d(1, 2)).norm(), 0, 1e-12);
}

}  // namespace
}  // namespace vigil::report
