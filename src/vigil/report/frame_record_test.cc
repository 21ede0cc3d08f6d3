#include "vigil/report/frame_record.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil::report {
namespace {
using nlohmann::json;

// A per-query document in the layout inspection/frame_result.h writes (only the keys the
// record reads, plus a few it ignores).
json Document() {
  return json::parse(R"({
    "format": 5, "query": "q.png", "config_hash": "abc",
    "reference": {"image": "r.png", "rule": "pose+path", "distance_m": 0.3},
    "localization_error": false, "note": "",
    "keypoints": {"query": 900, "reference": 880, "matches": 412},
    "anomalies": [
      {"id": 0, "kind": "new", "label": "chair", "score": 0.75, "bbox": [10, 20, 30, 40]},
      {"id": 1, "kind": "missing", "label": "unknown", "score": 0.5, "bbox": [0, 0, 5, 6]}],
    "second_reference": {"image": "r2.png", "unconfirmed_anomalies": 2},
    "dense": {"role": "confirmation", "unconfirmed_anomalies": 1},
    "timings_ms": {"extract": 100.5, "match": 4.5},
    "query_to_reference": [[1, 0, 2], [0, 1, 3], [0, 0, 1]]})");
}

TEST(FrameRecord, ReadsEveryFieldOfTheDocument) {
  const FrameRecord r = FrameRecordFromJson(Document());
  EXPECT_EQ(r.query, "q.png");
  EXPECT_EQ(r.reference_image, "r.png");
  EXPECT_EQ(r.reference_rule, "pose+path");
  EXPECT_FALSE(r.localization_error);
  EXPECT_EQ(r.matches, 412);
  ASSERT_EQ(r.anomalies.size(), 2u);
  EXPECT_EQ(r.anomalies[0].label, "chair");
  EXPECT_EQ(r.anomalies[0].bbox, cv::Rect(10, 20, 30, 40));
  EXPECT_EQ(r.anomalies[1].kind, "missing");
  EXPECT_DOUBLE_EQ(r.anomalies[1].score, 0.5);
  ASSERT_TRUE(r.second_view_image.has_value());
  EXPECT_EQ(*r.second_view_image, "r2.png");
  EXPECT_EQ(r.second_view_dropped, 2);
  EXPECT_TRUE(r.dense_confirmation);
  EXPECT_EQ(r.dense_dropped, 1);
  EXPECT_DOUBLE_EQ(r.TotalMs(), 105.0);
  ASSERT_EQ(r.query_to_reference.size(), cv::Size(3, 3));
  EXPECT_DOUBLE_EQ(r.query_to_reference.at<double>(1, 2), 3.0);
  EXPECT_EQ(r.Status(), "changed");
}

TEST(FrameRecord, NullsAreAbsences) {
  json doc = Document();
  doc["reference"]["image"] = nullptr;
  doc["keypoints"]["matches"] = nullptr;
  doc["second_reference"] = nullptr;
  doc["dense"] = nullptr;
  doc["query_to_reference"] = nullptr;
  doc["anomalies"] = json::array();
  doc["localization_error"] = true;
  const FrameRecord r = FrameRecordFromJson(doc);
  EXPECT_EQ(r.reference_image, "");
  EXPECT_EQ(r.matches, 0);
  EXPECT_FALSE(r.second_view_image.has_value());
  EXPECT_FALSE(r.dense_confirmation);
  EXPECT_TRUE(r.query_to_reference.empty());
  EXPECT_EQ(r.Status(), "not-inspectable");
  doc["localization_error"] = false;
  EXPECT_EQ(FrameRecordFromJson(doc).Status(), "unchanged");
}

// Each damage is named by the key it hit, so a user finds the bad file and line.
TEST(FrameRecord, ADamagedDocumentNamesTheKey) {
  auto message = [](const json& doc) {
    try {
      FrameRecordFromJson(doc);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  auto damaged = [](const char* pointer, json value) {
    json doc = Document();
    doc[json::json_pointer(pointer)] = std::move(value);
    return doc;
  };
  EXPECT_NE(message(damaged("/anomalies/1/bbox", json::array({1, 2, 3}))).find("anomalies[1].bbox"),
            std::string::npos);
  EXPECT_NE(message(damaged("/anomalies/0/bbox/2", -4)).find("anomalies[0].bbox"), std::string::npos);
  EXPECT_NE(message(damaged("/anomalies/0/kind", "moved!")).find("anomalies[0].kind"), std::string::npos);
  EXPECT_NE(message(damaged("/anomalies", "none")).find("'anomalies'"), std::string::npos);
  EXPECT_NE(message(damaged("/timings_ms/extract", "fast")).find("timings_ms.extract"), std::string::npos);
  EXPECT_NE(message(damaged("/keypoints/matches", -1)).find("keypoints.matches"), std::string::npos);
  EXPECT_NE(message(damaged("/query_to_reference/2", json::array({0, 1}))).find("query_to_reference"),
            std::string::npos);
  EXPECT_NE(message(damaged("/second_reference", 7)).find("second_reference"), std::string::npos);
  json no_query = Document();
  no_query.erase("query");
  EXPECT_NE(message(no_query).find("missing field 'query'"), std::string::npos);
  EXPECT_NE(message(json::array()).find("not a JSON object"), std::string::npos);
}

// What the ROS collector receives: a node's result, its report of a failure, or junk. Only a
// readable result can be "changed" or "unchanged"; the rest are not inspectable with the reason.
TEST(FrameRecord, AFailureOrJunkIsNotInspectableNeverUnchanged) {
  const FrameRecord ok = FrameRecordOrFailure(Document(), "robot1__q.png");
  EXPECT_EQ(ok.query, "robot1__q.png");
  EXPECT_EQ(ok.Status(), "changed");
  EXPECT_EQ(ok.anomalies.size(), 2u);

  const FrameRecord failed = FrameRecordOrFailure({{"query", "q.png"}, {"error", "cannot decode"}}, "r__q.png");
  EXPECT_EQ(failed.Status(), "not-inspectable");
  EXPECT_EQ(failed.note, "failed: cannot decode");
  EXPECT_TRUE(failed.anomalies.empty());

  json damaged = Document();
  damaged["anomalies"][0]["bbox"] = "somewhere";
  const FrameRecord unreadable = FrameRecordOrFailure(damaged, "r__q.png");
  EXPECT_EQ(unreadable.Status(), "not-inspectable");
  EXPECT_NE(unreadable.note.find("anomalies[0].bbox"), std::string::npos) << unreadable.note;
  EXPECT_EQ(FrameRecordOrFailure(json::array({1, 2}), "x.png").Status(), "not-inspectable");
  EXPECT_EQ(FrameRecordOrFailure(json::object(), "x.png").Status(), "not-inspectable");
}

}  // namespace
}  // namespace vigil::report
