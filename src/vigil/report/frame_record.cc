#include "vigil/report/frame_record.h"

#include <cmath>

#include "vigil/util/check.h"

namespace vigil::report {
using nlohmann::json;

namespace {

// Each reader names the key it failed on ("anomalies[2].bbox"), so a damaged file is found
// by its message. nlohmann's own accessors are avoided for the checks: their type errors name
// neither the key nor the file.
const json& Member(const json& object, const char* key, const std::string& where) {
  VIGIL_CHECK(object.is_object(), "frame result: '{}' is not an object", where);
  const auto it = object.find(key);
  VIGIL_CHECK(it != object.end(), "frame result: '{}' has no '{}'", where, key);
  return *it;
}

std::string Path(const std::string& where, const char* key) {
  return where.empty() ? key : where + "." + key;
}

std::string String(const json& object, const char* key, const std::string& where) {
  const json& v = Member(object, key, where);
  VIGIL_CHECK(v.is_string(), "frame result: '{}' must be a string", Path(where, key));
  return v.get<std::string>();
}

// A string, or "" for null (the document's "none").
std::string StringOrNull(const json& object, const char* key, const std::string& where) {
  const json& v = Member(object, key, where);
  if (v.is_null()) return "";
  VIGIL_CHECK(v.is_string(), "frame result: '{}' must be a string or null", Path(where, key));
  return v.get<std::string>();
}

bool Bool(const json& object, const char* key, const std::string& where) {
  const json& v = Member(object, key, where);
  VIGIL_CHECK(v.is_boolean(), "frame result: '{}' must be true or false", Path(where, key));
  return v.get<bool>();
}

double Number(const json& v, const std::string& path) {
  VIGIL_CHECK(v.is_number() && std::isfinite(v.get<double>()), "frame result: '{}' must be a finite number",
              path);
  return v.get<double>();
}

// An integer in [lo, hi] (hi >= 0). JSON's non-negative integers arrive unsigned: a value above
// INT64_MAX must not wrap into a negative one.
int64_t Integer(const json& v, const std::string& path, int64_t lo, int64_t hi) {
  VIGIL_CHECK(v.is_number_integer(), "frame result: '{}' must be an integer", path);
  const bool fits = !v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(hi);
  const int64_t value = fits ? v.get<int64_t>() : hi + 1;
  VIGIL_CHECK(value >= lo && value <= hi, "frame result: '{}' must lie in [{}, {}]", path, lo, hi);
  return value;
}

int Count(const json& v, const std::string& path) { return static_cast<int>(Integer(v, path, 0, 1 << 30)); }

RecordedAnomaly AnomalyFromJson(const json& a, const std::string& where) {
  RecordedAnomaly out;
  out.kind = String(a, "kind", where);
  VIGIL_CHECK(out.kind == "new" || out.kind == "missing", "frame result: '{}.kind' is '{}', not new or missing",
              where, out.kind);
  out.label = String(a, "label", where);
  out.score = Number(Member(a, "score", where), where + ".score");
  const json& box = Member(a, "bbox", where);
  VIGIL_CHECK(box.is_array() && box.size() == 4, "frame result: '{}.bbox' must be [x, y, w, h]", where);
  // Pixel coordinates of an image vigil accepts (InspectorOptions::max_pixels) fit 2^24 easily.
  constexpr int64_t kMax = 1 << 24;
  const std::string path = where + ".bbox";
  out.bbox = cv::Rect(static_cast<int>(Integer(box[0], path, -kMax, kMax)),
                      static_cast<int>(Integer(box[1], path, -kMax, kMax)),
                      static_cast<int>(Integer(box[2], path, 0, kMax)),
                      static_cast<int>(Integer(box[3], path, 0, kMax)));
  return out;
}

cv::Mat MatrixFromJson(const json& j) {
  if (j.is_null()) return cv::Mat();
  VIGIL_CHECK(j.is_array() && j.size() == 3, "frame result: 'query_to_reference' must be 3x3 or null");
  cv::Mat m(3, 3, CV_64F);
  for (int r = 0; r < 3; ++r) {
    VIGIL_CHECK(j[r].is_array() && j[r].size() == 3, "frame result: 'query_to_reference' must be 3x3 or null");
    for (int c = 0; c < 3; ++c) m.at<double>(r, c) = Number(j[r][c], "query_to_reference");
  }
  return m;
}

// An optional block ("second_reference", "dense"): the object, or nullptr where it is null.
const json* OptionalBlock(const json& doc, const char* key) {
  const json& block = Member(doc, key, "");
  if (block.is_null()) return nullptr;
  VIGIL_CHECK(block.is_object(), "frame result: '{}' must be an object or null", key);
  return &block;
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
  VIGIL_CHECK(doc.is_object(), "frame result: not a JSON object");
  FrameRecord r;
  r.query = String(doc, "query", "");
  const json& reference = Member(doc, "reference", "");
  r.reference_image = StringOrNull(reference, "image", "reference");
  r.reference_rule = String(reference, "rule", "reference");
  r.localization_error = Bool(doc, "localization_error", "");
  r.note = String(doc, "note", "");
  const json& matches = Member(Member(doc, "keypoints", ""), "matches", "keypoints");
  r.matches = matches.is_null() ? 0 : Count(matches, "keypoints.matches");

  const json& anomalies = Member(doc, "anomalies", "");
  VIGIL_CHECK(anomalies.is_array(), "frame result: 'anomalies' must be an array");
  for (size_t k = 0; k < anomalies.size(); ++k) {
    r.anomalies.push_back(AnomalyFromJson(anomalies[k], "anomalies[" + std::to_string(k) + "]"));
  }
  if (const json* second = OptionalBlock(doc, "second_reference")) {
    r.second_view_image = String(*second, "image", "second_reference");
    r.second_view_dropped =
        Count(Member(*second, "unconfirmed_anomalies", "second_reference"), "second_reference.unconfirmed_anomalies");
  }
  if (const json* dense = OptionalBlock(doc, "dense")) {
    r.dense_confirmation = String(*dense, "role", "dense") == "confirmation";
    r.dense_dropped = Count(Member(*dense, "unconfirmed_anomalies", "dense"), "dense.unconfirmed_anomalies");
  }
  const json& timings = Member(doc, "timings_ms", "");
  VIGIL_CHECK(timings.is_object(), "frame result: 'timings_ms' must be an object");
  for (const auto& [stage, ms] : timings.items()) r.timings_ms[stage] = Number(ms, "timings_ms." + stage);
  r.query_to_reference = MatrixFromJson(Member(doc, "query_to_reference", ""));
  return r;
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
