// The self-contained HTML report of an inspection run: a summary, one row per query with an
// embedded thumbnail linking to its full panel, the calibration plot, per-stage timings and the
// configuration. Images are embedded as data URIs so the file can be mailed or archived alone
// (the links to full-size panels need the panels/ folder beside it).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace vigil::report {

struct InspectionReportInput {
  std::string title;
  nlohmann::json config;                    // shown as a table
  std::vector<nlohmann::json> queries;      // per-query JSON documents (inspection/result_io.h)
  std::map<std::string, double> total_timings_ms;  // per stage, summed over computed queries
  cv::Mat calibration_plot;                 // optional
  nlohmann::json skipped = nlohmann::json::array();  // [{"image", "run", "reason"}]: frames not used
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
