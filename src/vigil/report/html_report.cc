#include "vigil/report/html_report.h"

#include <sstream>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/file_util.h"

namespace vigil::report {
namespace fs = std::filesystem;
using nlohmann::json;

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

std::string AnomalySummary(const json& anomalies) {
  std::map<std::string, int> counts;
  for (const json& a : anomalies) {
    counts[a.value("kind", "new") == "missing" ? "missing" : a.value("label", "unknown")]++;
  }
  std::string text;
  for (const auto& [label, n] : counts) text += fmt::format("{}{} &times;{}", text.empty() ? "" : ", ", HtmlEscape(label), n);
  return text.empty() ? "&ndash;" : text;
}

// "2nd view: IMAGE, N dropped" under the reference, when a second view was asked.
std::string SecondViewNote(const json& query) {
  if (!query.contains("second_reference") || !query["second_reference"].is_object()) return "";
  const json& second = query["second_reference"];
  return fmt::format("<br><small>2nd view: {}, {} dropped</small>",
                     HtmlEscape(second.value("image", "?")),
                     second.value("unconfirmed_anomalies", 0));
}

std::string QueryRows(const fs::path& out_dir, const std::vector<json>& queries) {
  std::ostringstream rows;
  for (const json& q : queries) {
    const std::string query = q.value("query", "?");
    const std::string stem = fs::path(query).stem().string();
    const json& ref = q.contains("reference") ? q["reference"] : json::object();
    double total_ms = 0;
    if (q.contains("timings_ms")) {
      for (const auto& [stage, ms] : q["timings_ms"].items()) total_ms += ms.get<double>();
    }
    const bool flagged = q.value("localization_error", false);
    const size_t n = q.contains("anomalies") ? q["anomalies"].size() : 0;
    const std::string thumb = Thumbnail(out_dir / "panels" / (stem + ".png"));
    rows << "<tr" << (flagged ? " class=flag" : n > 0 ? " class=hit" : "") << ">"
         << "<td>" << HtmlEscape(query) << "</td>"
         << "<td>" << HtmlEscape(ref.contains("image") && ref["image"].is_string() ? ref["image"].get<std::string>() : "none")
         << "<br><small>" << HtmlEscape(ref.value("rule", "")) << "</small>"
         << SecondViewNote(q) << "</td>"
         << "<td>" << n << "</td><td>" << AnomalySummary(q.value("anomalies", json::array())) << "</td>"
         << "<td>" << (flagged ? "likely localization error: " + HtmlEscape(q.value("note", "")) : "") << "</td>"
         << "<td>" << (q.contains("keypoints") && q["keypoints"]["matches"].is_number() ? q["keypoints"]["matches"].get<int>() : 0) << "</td>"
         << "<td>" << fmt::format("{:.0f}", total_ms) << "</td><td>";
    if (!thumb.empty()) {
      rows << "<a href=\"panels/" << HtmlEscape(stem) << ".png\"><img src=\"" << thumb << "\"></a>";
    }
    rows << "</td></tr>\n";
  }
  return rows.str();
}

std::string TimingRows(const std::map<std::string, double>& totals, size_t computed) {
  std::ostringstream rows;
  for (const auto& [stage, ms] : totals) {
    rows << fmt::format("<tr><td>{}</td><td>{:.0f}</td><td>{:.1f}</td></tr>\n", HtmlEscape(stage),
                        ms, computed > 0 ? ms / computed : 0.0);
  }
  return rows.str();
}

}  // namespace

void WriteInspectionReport(const fs::path& out_dir, const InspectionReportInput& input) {
  size_t with_anomalies = 0, flagged = 0, anomalies = 0, computed = 0, unconfirmed = 0;
  for (const json& q : input.queries) {
    const size_t n = q.contains("anomalies") ? q["anomalies"].size() : 0;
    anomalies += n;
    with_anomalies += n > 0;
    flagged += q.value("localization_error", false);
    if (q.contains("second_reference") && q["second_reference"].is_object()) {
      unconfirmed += q["second_reference"].value("unconfirmed_anomalies", 0);
    }
  }
  computed = input.queries.size();
  std::ostringstream html;
  html << "<!DOCTYPE html><html><head><meta charset=utf-8><title>" << HtmlEscape(input.title)
       << "</title><style>body{font-family:sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
          "vertical-align:top;text-align:left}tr.hit{background:#fff3e6}tr.flag{background:#eee;"
          "color:#777}img{max-width:480px}</style></head><body>\n";
  html << "<h1>" << HtmlEscape(input.title) << "</h1>\n";
  html << fmt::format(
      "<p><b>{}</b> queries: <b>{}</b> with changes ({} anomalies), <b>{}</b> flagged as likely "
      "localization errors; {} candidate anomalies dropped because a second reference view did "
      "not confirm them.</p>\n",
      input.queries.size(), with_anomalies, anomalies, flagged, unconfirmed);
  html << "<h2>Queries</h2><table><tr><th>query</th><th>reference (rule)</th><th>#</th>"
          "<th>anomalies</th><th>flag</th><th>matches</th><th>ms</th><th>panel</th></tr>\n"
       << QueryRows(out_dir, input.queries) << "</table>\n";
  if (!input.skipped.empty()) {
    html << "<h2 id=\"skipped\">Skipped frames (" << input.skipped.size()
         << ")</h2><table><tr><th>run</th><th>image</th><th>reason</th></tr>\n";
    for (const auto& s : input.skipped) {
      html << "<tr><td>" << HtmlEscape(s.value("run", "")) << "</td><td>"
           << HtmlEscape(s.value("image", "")) << "</td><td>" << HtmlEscape(s.value("reason", ""))
           << "</td></tr>\n";
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
  html << "</body></html>\n";
  WriteTextFileAtomically(out_dir / "report.html", html.str());
}

}  // namespace vigil::report
