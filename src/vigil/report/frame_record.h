// What a run keeps of each query frame once its files are written, for everything that
// summarises the run: the HTML report, the change events, the CLI's counts and the ROS node's
// status. One typed value, however the frame was obtained: a computed frame's record is read
// from the per-query JSON as it is written, and a resumed frame's from the same file on disk,
// so a resumed frame is summarised exactly as a computed one, and the JSON layout is read in
// this one place (the layout is documented by inspection/frame_result.h FrameResultSchema).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace vigil::report {

struct RecordedAnomaly {
  std::string kind = "new";       // "new" | "missing"
  std::string label = "unknown";  // segmenter class, "unknown" for clusters and dense regions
  double score = 0;
  cv::Rect bbox;                  // query pixels
};

struct FrameRecord {
  std::string query;                  // file name
  std::string reference_image;        // "" when no reference was used
  std::string reference_rule;         // how it was chosen
  bool localization_error = false;    // not inspectable
  std::string note;
  int matches = 0;                    // query-reference matches, 0 when not inspected
  std::vector<RecordedAnomaly> anomalies;
  // The confirmations' bookkeeping: the second view (when one was asked) and the dense map
  // (when it confirmed), with the candidates each dropped.
  std::optional<std::string> second_view_image;
  int second_view_dropped = 0;
  bool dense_confirmation = false;
  int dense_dropped = 0;
  std::map<std::string, double> timings_ms;
  cv::Mat query_to_reference;         // 3x3 CV_64F, empty when none was fitted

  // "not-inspectable" | "changed" | "unchanged" (the frames table's data-status).
  std::string Status() const;
  double TotalMs() const;
};

// The record of one per-query JSON document. Checks every key it reads: a document that is
// not a frame result, or holds a value of the wrong type, throws vigil::Error naming the key
// (a resumed output with such a file is recomputed, never trusted).
FrameRecord FrameRecordFromJson(const nlohmann::json& doc);

// The record of a document that may instead report a failure, as the ROS node publishes
// {"query", "error"} for a frame it failed on: a readable frame result as above; a failure, or a
// document that does not read as a frame result, as a not-inspectable record whose note gives
// the reason, never as an unchanged frame. `query` names the frame (the document's own name may
// be missing or damaged).
FrameRecord FrameRecordOrFailure(const nlohmann::json& doc, const std::string& query);

// A frame a run could not use, with the reason (its read error).
struct SkippedFrame {
  std::string image;   // path as given
  std::string run;     // "reference" | "query"
  std::string reason;  // one line
};

}  // namespace vigil::report
