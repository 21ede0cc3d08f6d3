#include "vigil/report/frame_record.h"


#include "vigil/util/check.h"
#include "vigil/util/json_reader.h"

namespace vigil::report {
using nlohmann::json;

namespace {

RecordedAnomaly AnomalyFromJson(const JsonReader& r, const json& a, const std::string& where) {
  RecordedAnomaly out;
  out.kind = r.String(a, "kind", where);
  VIGIL_CHECK(out.kind == "new" || out.kind == "missing", "{}: field '{}.kind' is '{}', not new or missing",
              r.source(), where, out.kind);
  out.label = r.String(a, "label", where);
  out.score = r.Double(a, "score", where);
  const std::string path = JsonReader::Path(where, "bbox");
  const json& box = r.Field(a, "bbox", where);
  VIGIL_CHECK(box.is_array() && box.size() == 4, "{}: field '{}' must be [x, y, w, h]", r.source(), path);
  // Pixel coordinates of an image vigil accepts (InspectorOptions::max_pixels) fit 2^24 easily.
  constexpr int64_t kMax = 1 << 24;
  out.bbox = cv::Rect(static_cast<int>(r.IntValue(box[0], path, -kMax, kMax)),
                      static_cast<int>(r.IntValue(box[1], path, -kMax, kMax)),
                      static_cast<int>(r.IntValue(box[2], path, 0, kMax)),
                      static_cast<int>(r.IntValue(box[3], path, 0, kMax)));
  return out;
}

cv::Mat MatrixFromJson(const JsonReader& reader, const json& j) {
  if (j.is_null()) return cv::Mat();
  const char* name = "query_to_reference";
  VIGIL_CHECK(j.is_array() && j.size() == 3, "{}: field '{}' must be 3x3 or null", reader.source(), name);
  cv::Mat m(3, 3, CV_64F);
  for (int r = 0; r < 3; ++r) {
    VIGIL_CHECK(j[r].is_array() && j[r].size() == 3, "{}: field '{}' must be 3x3 or null", reader.source(), name);
    for (int c = 0; c < 3; ++c) m.at<double>(r, c) = reader.DoubleValue(j[r][c], name);
  }
  return m;
}

// An optional block ("second_reference", "dense"): the object, or nullptr where it is null.
const json* OptionalBlock(const JsonReader& r, const json& doc, const char* key) {
  const json& block = r.Field(doc, key);
  if (block.is_null()) return nullptr;
  VIGIL_CHECK(block.is_object(), "{}: field '{}' must be an object or null", r.source(), key);
  return &block;
}

int Count(const JsonReader& r, const json& v, const std::string& name) {
  return static_cast<int>(r.IntValue(v, name, 0, 1 << 30));
}

}  // namespace

std::string FrameRecord::Status() const {
  if (localization_error) return "not-inspectable";
  return anomalies.empty() ? "unchanged" : "changed";
}

double FrameRecord::TotalMs() const {
  double total = 0;
  for (const auto& [stage, ms] : timings_ms) total += ms;
  return total;
}

FrameRecord FrameRecordFromJson(const json& doc) {
  // Each failure names the field's path: "frame result: field 'anomalies[2].bbox' ...".
  const JsonReader r("frame result");
  VIGIL_CHECK(doc.is_object(), "{}: not a JSON object", r.source());
  FrameRecord out;
  out.query = r.String(doc, "query");
  const json& reference = r.Field(doc, "reference");
  out.reference_image = r.StringOrNull(reference, "image", "reference");
  out.reference_rule = r.String(reference, "rule", "reference");
  out.localization_error = r.Bool(doc, "localization_error");
  out.note = r.String(doc, "note");
  const json& matches = r.Field(r.Field(doc, "keypoints"), "matches", "keypoints");
  out.matches = matches.is_null() ? 0 : Count(r, matches, "keypoints.matches");

  const json& anomalies = r.Field(doc, "anomalies");
  VIGIL_CHECK(anomalies.is_array(), "{}: field 'anomalies' must be an array", r.source());
  for (size_t k = 0; k < anomalies.size(); ++k) {
    out.anomalies.push_back(AnomalyFromJson(r, anomalies[k], "anomalies[" + std::to_string(k) + "]"));
  }
  if (const json* second = OptionalBlock(r, doc, "second_reference")) {
    out.second_view_image = r.String(*second, "image", "second_reference");
    out.second_view_dropped = Count(r, r.Field(*second, "unconfirmed_anomalies", "second_reference"),
                                    "second_reference.unconfirmed_anomalies");
  }
  if (const json* dense = OptionalBlock(r, doc, "dense")) {
    out.dense_confirmation = r.String(*dense, "role", "dense") == "confirmation";
    out.dense_dropped = Count(r, r.Field(*dense, "unconfirmed_anomalies", "dense"), "dense.unconfirmed_anomalies");
  }
  const json& timings = r.Field(doc, "timings_ms");
  VIGIL_CHECK(timings.is_object(), "{}: field 'timings_ms' must be an object", r.source());
  for (const auto& [stage, ms] : timings.items()) out.timings_ms[stage] = r.DoubleValue(ms, "timings_ms." + stage);
  out.query_to_reference = MatrixFromJson(r, r.Field(doc, "query_to_reference"));
  return out;
}

FrameRecord FrameRecordOrFailure(const json& doc, const std::string& query) {
  FrameRecord failed;
  failed.query = query;
  failed.localization_error = true;
  if (doc.is_object() && doc.contains("error")) {
    const json& error = doc["error"];
    failed.note = "failed: " + (error.is_string() ? error.get<std::string>() : error.dump());
    return failed;
  }
  try {
    FrameRecord r = FrameRecordFromJson(doc);
    r.query = query;
    return r;
  } catch (const Error& e) {
    failed.note = std::string("unreadable result: ") + e.what();
    return failed;
  }
}

}  // namespace vigil::report
