#include "vigil/inspection/inspector.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "vigil/util/options_fields.h"

#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {
namespace fs = std::filesystem;

// A small run pair cut from changes-freiburg: 2 references and the 3 variants of one query.
struct SmallRuns {
  fs::path reference, query, out;
};

SmallRuns MakeSmallRuns(const std::string& tag) {
  const fs::path data = testing::DataDir() / "changes-freiburg";
  const fs::path root = testing::MakeTempDir(tag);
  SmallRuns runs{root / "reference", root / "query", root / "out"};
  fs::create_directories(runs.reference);
  fs::create_directories(runs.query);
  std::ofstream ref_poses(runs.reference / "poses.csv"), query_poses(runs.query / "poses.csv");
  ref_poses << "image,x,y,z,qx,qy,qz,qw\n";
  query_poses << "image,x,y,z,qx,qy,qz,qw\n";
  std::ifstream ref_in(data / "reference" / "poses.csv"), query_in(data / "query" / "poses.csv");
  std::string line;
  std::getline(ref_in, line);
  for (int k = 0; k < 2 && std::getline(ref_in, line); ++k) {
    const std::string name = line.substr(0, line.find(','));
    fs::copy_file(data / "reference" / name, runs.reference / name);
    ref_poses << line << "\n";
  }
  std::getline(query_in, line);
  for (int k = 0; k < 3 && std::getline(query_in, line); ++k) {
    const std::string name = line.substr(0, line.find(','));
    fs::copy_file(data / "query" / name, runs.query / name);
    query_poses << line << "\n";
  }
  return runs;
}

InspectorOptions FastOptions() {
  InspectorOptions options;
  options.extractor.type = "sift";
  options.matcher.type = "nn";
  options.segmenter.type = "graph";
  options.show_progress = false;
  return options;
}

TEST(Inspector, WritesCompleteOutputsPerQueryAndResumes) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector");
  const InspectionSummary first = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  ASSERT_EQ(first.queries.size(), 3u);
  for (const QueryOutcome& q : first.queries) {
    EXPECT_FALSE(q.resumed);
    const std::string stem = fs::path(q.query).stem().string();
    EXPECT_TRUE(fs::exists(runs.out / (stem + ".json")));
    EXPECT_TRUE(fs::exists(runs.out / "masks" / (stem + ".png")));
    EXPECT_TRUE(fs::exists(runs.out / "panels" / (stem + ".png")));
    // The query frames follow reference frame 0 (pairs.csv): pose retrieval must pick it.
    EXPECT_EQ(q.result["reference"]["image"], "s0_1341847980.722988.png");
    EXPECT_GT(q.result["keypoints"]["matches"].get<int>(), 50);
  }
  EXPECT_TRUE(fs::exists(runs.out / "report.html"));
  // Every anomaly of every frame is in exactly one change event, and each event's sightings
  // name real anomalies of its frames.
  const nlohmann::json events =
      nlohmann::json::parse(ReadFileToString(runs.out / "events.json"))["events"];
  size_t anomalies = 0, sightings = 0;
  for (const QueryOutcome& q : first.queries) anomalies += q.result["anomalies"].size();
  for (const auto& e : events) {
    for (const auto& o : e["observations"]) {
      ++sightings;
      const nlohmann::json& doc = first.queries.at(o["frame"].get<size_t>()).result;
      EXPECT_EQ(doc["query"], o["query"]);
      EXPECT_EQ(doc["anomalies"].at(o["anomaly"].get<size_t>())["bbox"], o["bbox"]);
    }
  }
  EXPECT_GT(anomalies, 0u);  // the variants hold changes
  EXPECT_EQ(sightings, anomalies);
  EXPECT_EQ(first.events, events);
  // No temporary files left behind.
  for (const auto& entry : fs::recursive_directory_iterator(runs.out)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }

  const InspectionSummary second = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  for (const QueryOutcome& q : second.queries) EXPECT_TRUE(q.resumed) << q.query;
  // A resumed frame is summarised as when it was computed: the same record, the same events.
  for (size_t q = 0; q < first.queries.size(); ++q) {
    EXPECT_EQ(second.queries[q].record.anomalies.size(), first.queries[q].record.anomalies.size());
    EXPECT_EQ(second.queries[q].record.Status(), first.queries[q].record.Status());
  }
  EXPECT_EQ(second.events, first.events);

  // A document with the right configuration that is damaged (here: a box that is no box), or
  // that another query's file was copied over, is recomputed rather than trusted.
  const fs::path damaged = runs.out / (fs::path(first.queries[0].query).stem().string() + ".json");
  nlohmann::json doc = nlohmann::json::parse(ReadFileToString(damaged));
  doc["anomalies"] = nlohmann::json::array({{{"kind", "new"}, {"label", "x"}, {"score", 1}, {"bbox", "here"}}});
  WriteTextFileAtomically(damaged, doc.dump());
  fs::copy_file(runs.out / (fs::path(first.queries[2].query).stem().string() + ".json"),
                runs.out / (fs::path(first.queries[1].query).stem().string() + ".json"),
                fs::copy_options::overwrite_existing);
  const InspectionSummary repaired = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  EXPECT_FALSE(repaired.queries[0].resumed);
  EXPECT_FALSE(repaired.queries[1].resumed);
  EXPECT_TRUE(repaired.queries[2].resumed);
  EXPECT_EQ(repaired.events, first.events);

  InspectorOptions changed = FastOptions();
  changed.detector.min_samples = 6;  // another configuration: recomputed, not resumed
  const InspectionSummary third = RunInspection(runs.reference, runs.query, runs.out, changed);
  for (const QueryOutcome& q : third.queries) EXPECT_FALSE(q.resumed) << q.query;
}

TEST(Inspector, WithoutPosesTheSecondViewIsTheAppearanceRunnerUp) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_no_poses");
  fs::remove(runs.query / "poses.csv");
  const InspectionSummary summary =
      RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  ASSERT_EQ(summary.queries.size(), 3u);
  int confirmed = 0;
  for (const QueryOutcome& q : summary.queries) {
    EXPECT_EQ(q.result["reference"]["rule"], "appearance") << q.query;
    const auto& second = q.result["second_reference"];
    if (second.is_null()) continue;  // nothing to confirm
    ++confirmed;
    EXPECT_NE(second["image"], q.result["reference"]["image"]) << q.query;
    EXPECT_TRUE(second["distance_m"].is_null()) << q.query;  // no query pose
    EXPECT_GE(second["verified_matches"].get<int>(), 10) << q.query;
    // What the second view dropped is listed, with its region.
    ASSERT_TRUE(q.result["unconfirmed_anomalies"].is_array()) << q.query;
    EXPECT_EQ(q.result["unconfirmed_anomalies"].size(),
              second["unconfirmed_anomalies"].get<size_t>())
        << q.query;
    for (const auto& a : q.result["unconfirmed_anomalies"]) EXPECT_EQ(a["bbox"].size(), 4u);
  }
  EXPECT_GT(confirmed, 0);
}

TEST(Inspector, EmptyReferenceFolderIsAClearError) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_empty");
  const fs::path empty = runs.reference.parent_path() / "empty";
  fs::create_directories(empty);
  EXPECT_THROW(RunInspection(empty, runs.query, runs.out, FastOptions()), Error);
  EXPECT_FALSE(fs::exists(runs.out / "report.html"));
}

TEST(Inspector, CorruptCalibrationFileIsAClearError) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_calib");
  WriteTextFileAtomically(runs.out.parent_path() / "calibration.json", "{\"threshold\": ");
  InspectorOptions options = FastOptions();
  options.calibration_file = (runs.out.parent_path() / "calibration.json").string();
  try {
    RunInspection(runs.reference, runs.query, runs.out, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("calibration.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

void SchemaMismatches(const nlohmann::json& schema, const nlohmann::json& doc,
                      const std::string& path, std::vector<std::string>* out);

// A query that matches nothing (random noise) and a reference of another size: no crash, the
// unmatched query is flagged (localization error or no reference), the other is inspected.
TEST(Inspector, QueryWithoutMatchesAndReferenceOfAnotherSize) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_odd");
  // Replace the first reference by a half-size copy.
  const auto references = io::ListImages(runs.reference);
  cv::Mat small;
  cv::resize(io::ReadImage(references[0]), small, {320, 240}, 0, 0, cv::INTER_AREA);
  io::WriteImage(references[0], small);
  // Replace the first query by noise.
  const auto queries = io::ListImages(runs.query);
  cv::Mat noise(480, 640, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  io::WriteImage(queries[0], noise);

  const InspectionSummary summary = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  ASSERT_EQ(summary.queries.size(), 3u);
  EXPECT_TRUE(summary.queries[0].result["localization_error"].get<bool>())
      << summary.queries[0].result.dump();
  EXPECT_TRUE(summary.queries[0].result["anomalies"].empty());
  for (size_t q = 1; q < 3; ++q) {
    EXPECT_TRUE(summary.queries[q].result["overlap"].is_object()) << summary.queries[q].result.dump();
  }
  EXPECT_TRUE(std::filesystem::exists(runs.out / "report.html"));
  // The documents on disk, of an inspected and of a not inspectable frame, have exactly the
  // documented layout.
  for (const QueryOutcome& q : summary.queries) {
    const std::string stem = fs::path(q.query).stem().string();
    const nlohmann::json doc = nlohmann::json::parse(ReadFileToString(runs.out / (stem + ".json")));
    std::vector<std::string> mismatches;
    SchemaMismatches(FrameResultSchema(), doc, "", &mismatches);
    EXPECT_TRUE(mismatches.empty()) << q.query << ": " << ::testing::PrintToString(mismatches);
    EXPECT_EQ(doc["format"], kFrameResultFormat);
    // The run's typed record of the frame says what its document says.
    EXPECT_EQ(q.record.localization_error, doc["localization_error"].get<bool>());
    ASSERT_EQ(q.record.anomalies.size(), doc["anomalies"].size());
    for (size_t k = 0; k < q.record.anomalies.size(); ++k) {
      const cv::Rect b = q.record.anomalies[k].bbox;
      EXPECT_EQ(doc["anomalies"][k]["bbox"], nlohmann::json({b.x, b.y, b.width, b.height}));
      EXPECT_EQ(doc["anomalies"][k]["kind"], q.record.anomalies[k].kind);
    }
    EXPECT_EQ(q.record.reference_image, doc["reference"]["image"].is_null() ? "" : doc["reference"]["image"].get<std::string>());
  }
}

// Where `doc` departs from the documented layout `schema` (FrameResultSchema): a documented key
// missing, an undocumented key present, or an object or array of another shape. A documented
// object may be null (not applicable to this frame); a string in the schema is a leaf.
void SchemaMismatches(const nlohmann::json& schema, const nlohmann::json& doc,
                      const std::string& path, std::vector<std::string>* out) {
  if (schema.is_string()) return;
  if (schema.is_object()) {
    if (doc.is_null()) return;
    if (!doc.is_object()) return out->push_back(path + ": not an object");
    for (const auto& [key, sub] : schema.items()) {
      if (!doc.contains(key)) out->push_back(path + "/" + key + ": documented, missing");
      else SchemaMismatches(sub, doc[key], path + "/" + key, out);
    }
    for (const auto& [key, value] : doc.items()) {
      if (!schema.contains(key)) out->push_back(path + "/" + key + ": not documented");
    }
    return;
  }
  if (!doc.is_array()) return out->push_back(path + ": not an array");
  for (size_t i = 0; i < doc.size(); ++i) SchemaMismatches(schema[0], doc[i], path + "/" + std::to_string(i), out);
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// Every option that can change a result is in the configuration identity: each leaf field of
// InspectorOptions, changed on its own, gives a configuration hash no other change gives.
TEST(InspectorConfig, EveryOptionFieldChangesTheIdentity) {
  const InspectorOptions defaults;
  const nlohmann::json base = OptionsToJson(defaults);
  int fields = 0;
  const auto failing = testing::FieldsOutsideTheIdentity(
      defaults, &fields, [](const std::string& path, nlohmann::json& leaf) {
        if (path != "selection.pose_tie_break") return false;
        leaf = "nearest";  // a name that parses
        return true;
      });
  EXPECT_TRUE(failing.empty()) << fmt::format("{}", fmt::join(failing, ", "));
  EXPECT_GT(fields, 60);  // the nested extractor, matcher, segmenter, selection, detector options
  for (const char* expected : {"extractor", "matcher", "segmenter", "reference_run", "query_run",
                               "selection", "detector", "second_view", "max_pixels", "pairs"}) {
    EXPECT_TRUE(base.contains(expected)) << expected;
  }
  EXPECT_FALSE(base.contains("resume"));         // how to run, not what is computed
  EXPECT_FALSE(base.contains("show_progress"));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// An image of another place at 640x480: a real PCB scan (deeppcb-dev), nothing like the
// office of changes-freiburg.
cv::Mat OtherPlace() {
  const auto scans = io::ListImages(testing::DataDir() / "deeppcb-dev" / "reference");
  cv::Mat resized;
  cv::resize(io::ReadImage(scans.at(0)), resized, {640, 480}, 0, 0, cv::INTER_LINEAR);
  return resized;
}

// A localization failure: the pose-chosen reference shows another place. It is replaced by the
// other reference that the pose rule accepts and that passes verification; when no reference
// passes, the frames are not inspectable, never "no change".
TEST(Inspector, WrongPoseChosenReferenceIsReplacedOrFlagged) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  VIGIL_REQUIRE_FILE(testing::DataDir() / "deeppcb-dev" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_wrong_place");
  const auto references = io::ListImages(runs.reference);
  ASSERT_EQ(references.size(), 2u);
  io::WriteImage(references[0], OtherPlace());  // the pose-nearest reference (pairs.csv)

  const InspectionSummary replaced = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  ASSERT_EQ(replaced.queries.size(), 3u);
  for (const QueryOutcome& q : replaced.queries) {
    const nlohmann::json& doc = q.result;
    EXPECT_EQ(doc["reference"]["image"], references[1].filename().string()) << doc.dump();
    EXPECT_NE(doc["reference"]["rule"].get<std::string>().find("+reverified"), std::string::npos);
    EXPECT_EQ(doc["verification"]["replaced"]["image"], references[0].filename().string());
    EXPECT_TRUE(doc["verification"]["passed"].get<bool>());
    EXPECT_TRUE(doc["inspected"].get<bool>());
  }

  io::WriteImage(references[1], OtherPlace());  // now no reference shows the place
  const InspectionSummary flagged =
      RunInspection(runs.reference, runs.query, runs.out / "none", FastOptions());
  for (const QueryOutcome& q : flagged.queries) {
    const nlohmann::json& doc = q.result;
    EXPECT_TRUE(q.record.localization_error) << doc.dump();
    EXPECT_FALSE(doc["inspected"].get<bool>());
    EXPECT_TRUE(doc["anomalies"].empty());
    EXPECT_EQ(doc["reference"]["rule"], "failed-verification");
    EXPECT_FALSE(doc["verification"]["passed"].get<bool>());
    EXPECT_NE(doc["note"].get<std::string>().find("not inspectable"), std::string::npos);
  }
}

// Retrieval by appearance must not favour the reference with the most keypoints: a highly
// textured image of another place, with far more keypoints than the true reference, is in the
// run; the true reference is chosen for every query.
TEST(Inspector, MostKeypointsDistractorDoesNotWinRetrieval) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const fs::path texture_dir = testing::DataDir() / "textures" / "grass" / "train" / "good";
  VIGIL_REQUIRE_FILE(texture_dir);
  const SmallRuns runs = MakeSmallRuns("inspector_distractor");
  fs::remove(runs.reference / "poses.csv");
  fs::remove(runs.query / "poses.csv");
  cv::Mat texture, distractor;
  texture = io::ReadImage(io::ListImages(texture_dir).at(0));
  cv::resize(texture, distractor, {640, 480}, 0, 0, cv::INTER_LINEAR);
  io::WriteImage(runs.reference / "zz_distractor.png", distractor);
  InspectorOptions options = FastOptions();
  auto extractor = FeatureExtractor::Create(options.extractor);
  const auto references = io::ListImages(runs.reference);
  const fs::path true_reference = runs.reference / "s0_1341847980.722988.png";
  ASSERT_GT(extractor->Extract(distractor).size(), extractor->Extract(io::ReadImage(true_reference)).size())
      << "the distractor must have more keypoints for this test to mean anything";

  const InspectionSummary summary = RunInspection(runs.reference, runs.query, runs.out, options);
  ASSERT_EQ(summary.queries.size(), 3u);
  for (const QueryOutcome& q : summary.queries) {
    EXPECT_EQ(q.result["reference"]["image"], true_reference.filename().string()) << q.result.dump();
  }
}

}  // namespace
}  // namespace vigil

#include "vigil/map/map_builder.h"

namespace vigil {
namespace {

// A per-query document without what may differ between equal results: the timings, and the
// configuration hash unless `keep_config_hash` (a run whose identity must be the same keeps it).
nlohmann::json WithoutTimings(nlohmann::json doc, bool keep_config_hash = false) {
  doc.erase("timings_ms");
  if (!keep_config_hash) doc.erase("config_hash");
  return doc;
}

// A mission against a map file gives the per-query results of the run folder it was built from
// (issue 14), with no reference image decoded; a map built with another extractor setting is
// refused with the setting named.
TEST(Inspector, MapGivesTheResultsOfItsRunFolder) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_map");
  const InspectorOptions options = FastOptions();
  map::MapBuildOptions build;
  build.extractor = options.extractor;
  const fs::path site = runs.out.parent_path() / "site.vmap";
  map::BuildMap(runs.reference, site, build);

  const InspectionSummary folder = RunInspection(runs.reference, runs.query, runs.out / "folder", options);
  // The reference images are gone: everything must come from the map.
  for (const auto& image : io::ListImages(runs.reference)) fs::remove(image);
  const InspectionSummary with_map = RunInspectionWithMap(site, runs.query, runs.out / "map", options);
  ASSERT_EQ(with_map.queries.size(), folder.queries.size());
  for (size_t q = 0; q < folder.queries.size(); ++q) {
    EXPECT_EQ(WithoutTimings(with_map.queries[q].result), WithoutTimings(folder.queries[q].result))
        << folder.queries[q].query;
  }
  EXPECT_EQ(with_map.events, folder.events);

  InspectorOptions other = options;
  other.extractor.sift.max_keypoints = 1000;
  try {
    RunInspectionWithMap(site, runs.query, runs.out / "other", other);
    FAIL() << "a map of another extractor setting was used";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_keypoints"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(site.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(runs.out / "other" / "report.html"));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// Template inspection with dense evidence: the query is the reference image with a new object
// pasted in. The change is found where it was pasted and nowhere else, and the float score map
// written beside it is above the calibrated threshold on the object.
TEST(Inspector, DenseEvidenceFindsAPastedObjectAndWritesItsScoreMap) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_dense");
  const fs::path reference = io::ListImages(runs.reference).at(0);
  const fs::path query_dir = runs.out.parent_path() / "pasted";
  fs::create_directories(query_dir);
  cv::Mat query = io::ReadImage(reference).clone();
  const cv::Rect object(300, 200, 60, 50);
  query(object).setTo(cv::Scalar(20, 200, 240));
  cv::rectangle(query, {310, 210, 20, 20}, cv::Scalar(0, 0, 0), cv::FILLED);  // some inner texture
  io::WriteImage(query_dir / "pasted.png", query);

  InspectorOptions options = FastOptions();
  options.evidence = "dense";
  const InspectionSummary summary = RunInspection(reference, query_dir, runs.out, options);
  ASSERT_EQ(summary.queries.size(), 1u);
  const nlohmann::json& doc = summary.queries[0].result;
  ASSERT_TRUE(doc["inspected"].get<bool>()) << doc.dump();
  ASSERT_FALSE(doc["anomalies"].empty()) << doc.dump();
  for (const auto& a : doc["anomalies"]) {
    const cv::Rect box(a["bbox"][0], a["bbox"][1], a["bbox"][2], a["bbox"][3]);
    EXPECT_GT((box & object).area(), 0) << "a change away from the pasted object: " << a["bbox"];
  }
  const cv::Mat score = cv::imread((runs.out / "scores" / "pasted.tiff").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(score.type(), CV_32F);
  ASSERT_EQ(score.size(), query.size());
  double peak = 0;
  cv::minMaxLoc(score(object), nullptr, &peak);
  EXPECT_GT(peak, doc["dense"]["threshold"].get<double>());
  EXPECT_EQ(summary.config["dense_threshold_source"], "reference run: simulated residuals");
  // The query is the reference image itself: one plane (the identity) explains it.
  EXPECT_EQ(doc["dense"]["registrations"], nlohmann::json::array({"homography"}));

  // `vigil calibrate` stores the same threshold (same images, same settings), and inspect then
  // takes it from the file instead of calibrating again.
  CalibrationResult calibration;
  calibration.threshold = FastOptions().matcher.threshold();
  calibration.dense = CalibrateDenseThreshold({reference}, options.dense, options.dense_false_alarm_rate);
  EXPECT_DOUBLE_EQ(calibration.dense->threshold, doc["dense"]["threshold"].get<double>());
  const fs::path file = runs.out.parent_path() / "calibration.json";
  WriteCalibrationJson(file, calibration);
  InspectorOptions calibrated = options;
  calibrated.calibration_file = file.string();
  const InspectionSummary again = RunInspection(reference, query_dir, runs.out / "calibrated", calibrated);
  EXPECT_EQ(again.config["dense_threshold_source"], "calibration " + file.string());
  EXPECT_DOUBLE_EQ(again.config["dense_threshold"].get<double>(), calibration.dense->threshold);
  EXPECT_EQ(again.queries.at(0).result["anomalies"].size(), doc["anomalies"].size());
}

// The deep channel on the same pair: the pasted object is found, and only there.
TEST(Inspector, DeepDenseChannelFindsThePastedObject) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const fs::path model = testing::ModelsDir() / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
  VIGIL_REQUIRE_FILE(model);
  const SmallRuns runs = MakeSmallRuns("inspector_dense_deep");
  const fs::path reference = io::ListImages(runs.reference).at(0);
  const fs::path query_dir = runs.out.parent_path() / "pasted";
  fs::create_directories(query_dir);
  cv::Mat query = io::ReadImage(reference).clone();
  const cv::Rect object(300, 200, 60, 50);
  query(object).setTo(cv::Scalar(20, 200, 240));
  io::WriteImage(query_dir / "pasted.png", query);
  InspectorOptions options = FastOptions();
  options.evidence = "dense";
  options.dense_channel = "deep";
  options.dense_deep_model = model.string();
  options.segment = false;
  const InspectionSummary summary = RunInspection(reference, query_dir, runs.out, options);
  const nlohmann::json& doc = summary.queries.at(0).result;
  ASSERT_FALSE(doc["anomalies"].empty()) << doc.dump();
  for (const auto& a : doc["anomalies"]) {
    const cv::Rect box(a["bbox"][0], a["bbox"][1], a["bbox"][2], a["bbox"][3]);
    EXPECT_GT((box & object).area(), 0) << "a change away from the pasted object: " << a["bbox"];
  }
  EXPECT_TRUE(summary.config["models"].contains("dense_deep"));
}

// Keypoint evidence confirmed by the dense map alone, no segmenter, no panels.
InspectorOptions DenseConfirmationOptions() {
  InspectorOptions options = FastOptions();
  options.evidence = "keypoints";
  options.segment = false;
  options.write_panels = false;
  options.confirmation = "dense";
  return options;
}

// Keypoint candidates confirmed by the dense map (InspectorOptions::confirmation): an object
// pasted into a real query frame is kept, as significant against its own frame, and the rule is
// the one the JSON states for every candidate; with both rules, the result is what the second
// view kept less what the dense map did not confirm, never more.
TEST(Inspector, DenseConfirmationKeepsAPastedObjectAndOnlyNarrowsTheSecondView) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_dense_confirm");
  const fs::path first = io::ListImages(runs.query).at(0);
  cv::Mat query = io::ReadImage(first);
  const cv::Rect object(380, 180, 120, 100);
  cv::Mat patch = query(cv::Rect(40, 40, 120, 100)).clone();
  cv::flip(patch, patch, -1);  // real texture, but not what the reference shows here
  patch.copyTo(query(object));
  io::WriteImage(first, query);
  InspectorOptions options = DenseConfirmationOptions();
  const InspectionSummary dense = RunInspection(runs.reference, runs.query, runs.out / "dense", options);
  const double rate = options.dense_confirm.false_alarm_rate;
  bool object_kept = false;
  int dropped = 0;
  for (const QueryOutcome& q : dense.queries) {
    const nlohmann::json& doc = q.result;
    ASSERT_TRUE(doc["inspected"].get<bool>()) << doc.dump();
    if (doc["anomalies"].empty() && doc["unconfirmed_anomalies"].empty()) continue;
    EXPECT_EQ(doc["dense"]["role"], "confirmation") << q.query;
    EXPECT_TRUE(doc["second_reference"].is_null()) << q.query;
    for (const auto& a : doc["anomalies"]) {
      if (!a["dense_confirmation"].is_null()) EXPECT_LE(a["dense_confirmation"]["null_rate"].get<double>(), rate);
      const cv::Rect box(a["bbox"][0], a["bbox"][1], a["bbox"][2], a["bbox"][3]);
      object_kept |= q.query == first.filename().string() && (box & object).area() > 0;
    }
    for (const auto& a : doc["unconfirmed_anomalies"]) {
      ASSERT_FALSE(a["dense_confirmation"].is_null()) << q.query;
      EXPECT_GT(a["dense_confirmation"]["null_rate"].get<double>(), rate);
      ++dropped;
    }
  }
  EXPECT_TRUE(object_kept);
  EXPECT_GT(dropped, 0);  // the frames' viewpoint artefacts

  auto boxes = [](const nlohmann::json& list) {
    std::set<std::vector<int>> out;
    for (const auto& a : list) out.insert(a["bbox"].get<std::vector<int>>());
    return out;
  };
  options.confirmation = "keypoints";
  const InspectionSummary second_view = RunInspection(runs.reference, runs.query, runs.out / "kp", options);
  options.confirmation = "keypoints+dense";
  const InspectionSummary both = RunInspection(runs.reference, runs.query, runs.out / "both", options);
  for (size_t q = 0; q < both.queries.size(); ++q) {
    const auto kept = boxes(both.queries[q].result["anomalies"]);
    const auto by_second_view = boxes(second_view.queries[q].result["anomalies"]);
    const auto by_dense = boxes(dense.queries[q].result["anomalies"]);
    for (const auto& box : kept) {
      EXPECT_TRUE(by_second_view.count(box) && by_dense.count(box)) << both.queries[q].query;
    }
  }
}

// --segment-when confirmed: the segmenter runs only on frames whose evidence survives the
// confirmation. A frame it skips reports no change (its confirmed first pass found none), and a
// frame it runs on gets exactly the result of the default "evidence" mode, whose full pass is
// the same; on these frames' viewpoint artefacts it skips some that "evidence" segments.
TEST(Inspector, SegmentingOnlyConfirmedEvidenceKeepsTheResultsOfTheFramesItSegments) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_segment_confirmed");
  InspectorOptions options = DenseConfirmationOptions();
  options.segment = true;  // the weight-free graph segmenter (FastOptions)
  options.confirmation = "keypoints+dense";
  const InspectionSummary evidence = RunInspection(runs.reference, runs.query, runs.out / "evidence", options);
  options.segment_when = "confirmed";
  const InspectionSummary confirmed = RunInspection(runs.reference, runs.query, runs.out / "confirmed", options);
  ASSERT_EQ(confirmed.queries.size(), evidence.queries.size());
  int skipped_more = 0;
  for (size_t q = 0; q < confirmed.queries.size(); ++q) {
    const nlohmann::json& c = confirmed.queries[q].result;
    const nlohmann::json& e = evidence.queries[q].result;
    if (!c["timings_ms"].contains("segment")) {
      EXPECT_TRUE(c["anomalies"].empty()) << c.dump();
      EXPECT_EQ(c["withheld_anomalies"], 0);
      skipped_more += e["timings_ms"].contains("segment");
    } else {
      EXPECT_EQ(c["anomalies"], e["anomalies"]) << confirmed.queries[q].query;
      EXPECT_EQ(c["unconfirmed_anomalies"], e["unconfirmed_anomalies"]) << confirmed.queries[q].query;
    }
  }
  EXPECT_GT(skipped_more, 0);
  options.segment_when = "sometimes";
  EXPECT_NE(testing::ErrorOf([&] { options.Check(); }).find("segment_when"), std::string::npos);
}

// The reference caches are bounded (InspectorOptions::max_cached_references) without changing
// any result: with room for one reference, the frames whose references alternate are computed
// again, identically.
TEST(Inspector, ABoundedReferenceCacheGivesTheSameResults) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_bounded_cache");
  InspectorOptions options = DenseConfirmationOptions();
  options.confirmation = "keypoints+dense";
  options.jobs = 1;  // one cache sees every query, so that the bound of 1 must evict
  const InspectionSummary all = RunInspection(runs.reference, runs.query, runs.out / "all", options);
  options.max_cached_references = 1;
  const InspectionSummary one = RunInspection(runs.reference, runs.query, runs.out / "one", options);
  ASSERT_EQ(one.queries.size(), all.queries.size());
  int compared = 0, extracted_again = 0;
  for (size_t q = 0; q < all.queries.size(); ++q) {
    const nlohmann::json& a = all.queries[q].result;
    const nlohmann::json& b = one.queries[q].result;
    extracted_again += q > 0 && b["timings_ms"].value("extract_reference", 0.0) > 0 &&
                       a["timings_ms"].value("extract_reference", 0.0) == 0;
    // config_hash included: the bound is not part of the identity.
    EXPECT_EQ(WithoutTimings(a, true), WithoutTimings(b, true)) << all.queries[q].query;
    compared += !a["anomalies"].empty() || !a["unconfirmed_anomalies"].empty();
  }
  EXPECT_GT(compared, 0);  // frames with evidence, whose confirmation used both references
  EXPECT_GT(extracted_again, 0);  // the bound did evict
  options.max_cached_references = 0;
  EXPECT_NE(testing::ErrorOf([&] { options.Check(); }).find("max_cached_references"), std::string::npos);
}

// Workers and threads change how a run is computed, not what: one worker of two threads, two
// and three workers of one thread give the same documents and events, under one
// configuration identity (so a resumed run does not recompute when only they change).
TEST(Inspector, WorkersAndThreadsChangeNeitherResultsNorIdentity) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_workers");
  InspectorOptions options = DenseConfirmationOptions();
  options.confirmation = "keypoints+dense";
  options.jobs = 1;
  options.SetNumThreads(2);
  const InspectionSummary one = RunInspection(runs.reference, runs.query, runs.out / "one", options);
  for (int jobs : {2, 3}) {
    options.jobs = jobs;
    options.SetNumThreads(jobs);  // one thread per worker (the workers never exceed the threads)
    const InspectionSummary many =
        RunInspection(runs.reference, runs.query, runs.out / std::to_string(jobs), options);
    ASSERT_EQ(many.queries.size(), one.queries.size());
    for (size_t q = 0; q < one.queries.size(); ++q) {
      EXPECT_EQ(WithoutTimings(one.queries[q].result, true), WithoutTimings(many.queries[q].result, true))
          << jobs << " workers: " << one.queries[q].query;  // config_hash included
    }
    EXPECT_EQ(many.events, one.events) << jobs;
    EXPECT_EQ(many.config, one.config) << jobs;
  }
  // A later run with other workers resumes every query.
  options.jobs = 1;
  const InspectionSummary again = RunInspection(runs.reference, runs.query, runs.out / "3", options);
  for (const QueryOutcome& q : again.queries) EXPECT_TRUE(q.resumed) << q.query;
  options.jobs = 0;
  EXPECT_NE(testing::ErrorOf([&] { options.Check(); }).find("jobs"), std::string::npos);
}

// The "run" null: change-free maps of the reference run, each frame against its neighbours. A
// run of one frame has none, and the confirmation falls back to the second view's keypoints
// rather than confirming against nothing.
TEST(Inspector, DenseConfirmationAgainstTheRunNeedsNeighbouringFrames) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_dense_confirm_run");
  InspectorOptions options = DenseConfirmationOptions();
  options.dense_confirm.null = "run";
  const InspectionSummary two = RunInspection(runs.reference, runs.query, runs.out / "two", options);
  EXPECT_EQ(two.config["dense_confirmation_clean_maps"], 2);
  int confirmed_frames = 0;
  for (const QueryOutcome& q : two.queries) {
    if (q.result["dense"].is_null()) continue;
    EXPECT_EQ(q.result["dense"]["role"], "confirmation");
    ++confirmed_frames;
  }
  EXPECT_GT(confirmed_frames, 0);

  const fs::path one = runs.out.parent_path() / "one_frame";
  fs::create_directories(one);
  const fs::path first = io::ListImages(runs.reference).at(0);
  fs::copy_file(first, one / first.filename());
  const InspectionSummary alone = RunInspection(one, runs.query, runs.out / "one", options);
  EXPECT_EQ(alone.config["dense_confirmation_clean_maps"], 0);
  for (const QueryOutcome& q : alone.queries) EXPECT_TRUE(q.result["dense"].is_null()) << q.query;
}

// Dense evidence on a run (3-D scene, 0.3 m baselines): references are registered by the flow
// pair interpolated from their epipolar inliers where one plane does not explain the matches
// (decided per pair; with SIFT's matches some pairs still pass for a plane), and the
// threshold comes from the reference frames scored against each other the same way. Those are
// real view changes, so their clean scores lie above the simulated half-pixel residual's.
TEST(Inspector, DenseEvidenceOnARunRegistersByFlowAndCalibratesOnNeighbours) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_dense_run");
  InspectorOptions options = FastOptions();
  options.evidence = "dense";
  options.segment = false;
  options.write_panels = false;
  const InspectionSummary summary = RunInspection(runs.reference, runs.query, runs.out, options);
  ASSERT_EQ(summary.queries.size(), 3u);
  EXPECT_EQ(summary.config["dense_threshold_source"], "reference run: 2 frames against their neighbours");
  int flows = 0;
  for (const QueryOutcome& q : summary.queries) {
    ASSERT_TRUE(q.result["inspected"].get<bool>()) << q.result.dump();
    for (const auto& how : q.result["dense"]["registrations"]) {
      EXPECT_TRUE(how == "flow" || how == "homography") << q.query << ": " << how;
      flows += how == "flow";
    }
  }
  EXPECT_GT(flows, 0);
  InspectorOptions simulated = options;
  simulated.dense_calibration = "simulated";
  const InspectionSummary baseline = RunInspection(runs.reference, runs.query, runs.out / "simulated", simulated);
  EXPECT_GT(summary.config["dense_threshold"].get<double>(), baseline.config["dense_threshold"].get<double>());
  // Registered by a homography instead, the same frames are still inspected (the option is honoured).
  InspectorOptions plane = options;
  plane.dense_registration = "homography";
  const InspectionSummary by_plane = RunInspection(runs.reference, runs.query, runs.out / "plane", plane);
  for (const QueryOutcome& q : by_plane.queries)
    for (const auto& how : q.result["dense"]["registrations"]) EXPECT_EQ(how, "homography") << q.query;
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// Moves reference frame `name` in the run's poses.csv by `dx` metres along x.
void MoveReference(const fs::path& run, const std::string& name, double dx) {
  std::ifstream in(run / "poses.csv");
  std::string line, out;
  std::getline(in, line);
  out = line + "\n";
  while (std::getline(in, line)) {
    if (line.rfind(name + ",", 0) == 0) {
      const size_t a = line.find(',') + 1, b = line.find(',', a);
      line = line.substr(0, a) + std::to_string(std::stod(line.substr(a, b - a)) + dx) + line.substr(b);
    }
    out += line + "\n";
  }
  WriteTextFileAtomically(run / "poses.csv", out);
}

// Localization off by 10 m: the reference that shows the place is outside the pose rule's
// reach. While the pose's own choice still verifies, the JSON says that appearance prefers the
// far one (feedback for the localization); once the pose's choice shows another place, the
// whole run is searched by appearance and the far reference is used ("+relocalized").
TEST(Inspector, AppearanceRelocalizesAndReportsWhenThePoseIsOff) {
  VIGIL_REQUIRE_FILE(testing::DataDir() / "changes-freiburg" / "pairs.csv");
  VIGIL_REQUIRE_FILE(testing::DataDir() / "deeppcb-dev" / "pairs.csv");
  const SmallRuns runs = MakeSmallRuns("inspector_relocalize");
  const auto references = io::ListImages(runs.reference);
  const std::string true_place = references[0].filename().string();  // what pairs.csv lists
  MoveReference(runs.reference, true_place, 10.0);

  const InspectionSummary feedback = RunInspection(runs.reference, runs.query, runs.out, FastOptions());
  int preferred = 0;
  for (const QueryOutcome& q : feedback.queries) {
    EXPECT_EQ(q.result["reference"]["image"], references[1].filename().string()) << q.result.dump();
    const nlohmann::json& a = q.result["appearance_prefers"];
    if (a.is_null()) continue;
    ++preferred;
    EXPECT_EQ(a["image"], true_place);
    EXPECT_GT(a["inliers"].get<int>(), a["chosen_inliers"].get<int>());
    EXPECT_GT(a["distance_m"].get<double>(), 9.0);
  }
  EXPECT_GT(preferred, 0);

  io::WriteImage(references[1], OtherPlace());
  const InspectionSummary relocalized =
      RunInspection(runs.reference, runs.query, runs.out / "relocalized", FastOptions());
  for (const QueryOutcome& q : relocalized.queries) {
    const nlohmann::json& doc = q.result;
    EXPECT_TRUE(doc["inspected"].get<bool>()) << doc.dump();
    EXPECT_EQ(doc["reference"]["image"], true_place);
    EXPECT_NE(doc["reference"]["rule"].get<std::string>().find("+relocalized"), std::string::npos);
    EXPECT_EQ(doc["verification"]["replaced"]["image"], references[1].filename().string());
  }
}

}  // namespace
}  // namespace vigil
