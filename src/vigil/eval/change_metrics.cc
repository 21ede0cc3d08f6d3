#include "vigil/eval/change_metrics.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/json_reader.h"

namespace vigil::eval {
namespace fs = std::filesystem;
using json = nlohmann::json;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

json Number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

std::string Cell(double value) { return std::isfinite(value) ? fmt::format("{:.3f}", value) : "n/a"; }

// pairs.csv: query,reference (header required). Empty map when the file is absent.
std::map<std::string, std::string> ReadPairs(const fs::path& file) {
  std::map<std::string, std::string> pairs;
  if (!fs::exists(file)) return pairs;
  std::istringstream stream(ReadFileToString(file));
  std::string line;
  int line_no = 0;
  bool header = true;
  while (std::getline(stream, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t comma = line.find(',');
    VIGIL_CHECK(comma != std::string::npos && line.find(',', comma + 1) == std::string::npos,
                "{}:{}: expected 'query,reference', got '{}'", file.string(), line_no, line);
    if (header) {
      VIGIL_CHECK(line == "query,reference", "{}:1: header must be 'query,reference', got '{}'",
                  file.string(), line);
      header = false;
      continue;
    }
    pairs[line.substr(0, comma)] = line.substr(comma + 1);
  }
  return pairs;
}

std::vector<GroundTruthChange> ReadGroundTruthJson(const fs::path& file) {
  json j = ReadJsonFile(file);
  VIGIL_CHECK(j.is_object() && j.contains("changes") && j["changes"].is_array(),
              "{}: expected an object with a \"changes\" array", file.string());
  std::vector<GroundTruthChange> changes;
  for (size_t i = 0; i < j["changes"].size(); ++i) {
    const json& c = j["changes"][i];
    VIGIL_CHECK(c.is_object() && c.contains("id") && c["id"].is_number_integer() &&
                    c.contains("type") && c["type"].is_string(),
                "{}: changes[{}] needs an integer \"id\" and a string \"type\"", file.string(), i);
    GroundTruthChange change;
    change.id = c["id"].get<int>();
    change.type = c["type"].get<std::string>();
    if (c.contains("area_px") && c["area_px"].is_number()) change.area_px = c["area_px"].get<int64_t>();
    changes.push_back(change);
  }
  return changes;
}

json CountsJson(const ChangeCounts& c) {
  return {{"changes", c.changes},   {"changes_found", c.changes_found}, {"regions", c.regions},
          {"regions_true", c.regions_true}, {"tp_px", c.tp_px},   {"fp_px", c.fp_px},
          {"fn_px", c.fn_px},       {"images", c.images},       {"images_correct", c.images_correct}};
}

json ScoresJson(const ChangeScores& s) {
  return {{"precision", Number(s.precision)},   {"recall", Number(s.recall)},
          {"f1", Number(s.f1)},                 {"pixel_iou", Number(s.pixel_iou)},
          {"pixel_f1", Number(s.pixel_f1)},     {"image_accuracy", Number(s.image_accuracy)},
          {"counts", CountsJson(s.counts)}};
}

std::string TableRow(const std::string& name, const ChangeScores& s) {
  const ChangeCounts& c = s.counts;
  return fmt::format("| {} | {} | {}/{} | {} | {}/{} | {} | {} | {} | {} | {} |\n", name, c.images,
                     c.changes_found, c.changes, Cell(s.recall), c.regions_true, c.regions,
                     Cell(s.precision), Cell(s.f1), Cell(s.pixel_iou), Cell(s.pixel_f1),
                     Cell(s.image_accuracy));
}

}  // namespace

void ChangeMetricsOptions::Check() const {
  VIGIL_CHECK_OPTION(min_coverage > 0 && min_coverage <= 1, "min_coverage", "must be in (0, 1]");
  VIGIL_CHECK_OPTION(min_region_on_change > 0 && min_region_on_change <= 1, "min_region_on_change",
                     "must be in (0, 1]");
  VIGIL_CHECK_OPTION(min_region_px >= 1, "min_region_px", "must be >= 1 pixel");
}

void ChangeCounts::Add(const ChangeCounts& o) {
  changes += o.changes;
  changes_found += o.changes_found;
  regions += o.regions;
  regions_true += o.regions_true;
  tp_px += o.tp_px;
  fp_px += o.fp_px;
  fn_px += o.fn_px;
  images += o.images;
  images_correct += o.images_correct;
}

ChangeScores ScoresFromCounts(const ChangeCounts& c) {
  ChangeScores s;
  s.counts = c;
  s.precision = Ratio(c.regions_true, c.regions);
  s.recall = Ratio(c.changes_found, c.changes);
  if (std::isnan(s.recall)) {
    s.f1 = kNaN;  // nothing to find: F1 is undefined
  } else if (std::isnan(s.precision) || s.precision + s.recall == 0) {
    s.f1 = 0;  // nothing predicted (recall is then 0) or nothing right
  } else {
    s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
  }
  s.pixel_iou = Ratio(static_cast<double>(c.tp_px), static_cast<double>(c.tp_px + c.fp_px + c.fn_px));
  s.pixel_f1 =
      Ratio(2.0 * static_cast<double>(c.tp_px), static_cast<double>(2 * c.tp_px + c.fp_px + c.fn_px));
  s.image_accuracy = Ratio(c.images_correct, c.images);
  return s;
}

QueryChangeResult EvaluateChangeQuery(const cv::Mat& labels,
                                      const std::vector<GroundTruthChange>& changes,
                                      const cv::Mat& predicted, const ChangeMetricsOptions& options) {
  options.Check();
  VIGIL_CHECK(!labels.empty() && labels.channels() == 1 &&
                  (labels.depth() == CV_8U || labels.depth() == CV_16U),
              "ground-truth label image must be single-channel 8- or 16-bit");
  VIGIL_CHECK(predicted.empty() || (predicted.channels() == 1 && predicted.depth() == CV_8U),
              "predicted mask must be a single-channel 8-bit image (0 = unchanged, >0 = change)");
  VIGIL_CHECK(predicted.empty() || predicted.size() == labels.size(),
              "predicted mask is {}x{}, ground truth is {}x{}", predicted.cols, predicted.rows,
              labels.cols, labels.rows);

  cv::Mat label16;
  labels.convertTo(label16, CV_16U);
  // Label value -> index into `changes` (+1; 0 = unchanged).
  std::vector<int> slot(65536, -1);
  slot[0] = 0;
  QueryChangeResult result;
  for (size_t i = 0; i < changes.size(); ++i) {
    VIGIL_CHECK(changes[i].id > 0 && changes[i].id < 65536, "change id {} out of range 1..65535",
                changes[i].id);
    VIGIL_CHECK(slot[changes[i].id] < 0, "change id {} listed twice", changes[i].id);
    slot[changes[i].id] = static_cast<int>(i) + 1;
    result.change_types.push_back(changes[i].type);
  }
  std::sort(result.change_types.begin(), result.change_types.end());
  result.change_types.erase(std::unique(result.change_types.begin(), result.change_types.end()),
                            result.change_types.end());

  // Predicted regions: 8-connected components, the small ones dropped from every metric.
  cv::Mat binary = cv::Mat::zeros(labels.size(), CV_8U);
  if (!predicted.empty()) binary = predicted > 0;
  cv::Mat components, stats, centroids;
  const int n_components = cv::connectedComponentsWithStats(binary, components, stats, centroids, 8, CV_32S);
  std::vector<bool> kept(n_components, false);
  for (int c = 1; c < n_components; ++c) {
    kept[c] = stats.at<int>(c, cv::CC_STAT_AREA) >= options.min_region_px;
  }

  const size_t n_slots = changes.size() + 1;
  std::vector<int64_t> change_area(n_slots, 0), change_covered(n_slots, 0);
  // overlap[c * n_slots + s]: pixels of region c on slot s (s = 0: on no change).
  std::vector<int64_t> overlap(static_cast<size_t>(n_components) * n_slots, 0);
  for (int y = 0; y < labels.rows; ++y) {
    const uint16_t* l = label16.ptr<uint16_t>(y);
    const int* comp = components.ptr<int>(y);
    for (int x = 0; x < labels.cols; ++x) {
      const int s = slot[l[x]];
      VIGIL_CHECK(s >= 0, "label {} at pixel ({}, {}) is not a change listed in the JSON", l[x], x, y);
      const bool on = comp[x] > 0 && kept[comp[x]];
      ++change_area[s];
      if (on) {
        ++change_covered[s];
        ++overlap[static_cast<size_t>(comp[x]) * n_slots + s];
      }
    }
  }

  // Ground-truth changes.
  for (size_t i = 0; i < changes.size(); ++i) {
    const size_t s = i + 1;
    VIGIL_CHECK(change_area[s] > 0, "change id {} is listed in the JSON but has no pixels",
                changes[i].id);
    const bool found = static_cast<double>(change_covered[s]) >=
                       options.min_coverage * static_cast<double>(change_area[s]);
    result.change_found.push_back(found);
    ChangeCounts& t = result.by_type[changes[i].type];
    t.changes += 1;
    t.changes_found += found;
    t.tp_px += change_covered[s];
    t.fn_px += change_area[s] - change_covered[s];
    result.overall.changes += 1;
    result.overall.changes_found += found;
    result.overall.tp_px += change_covered[s];
    result.overall.fn_px += change_area[s] - change_covered[s];
  }
  result.overall.fp_px = change_covered[0];

  // Predicted regions.
  int n_regions = 0, n_false = 0;
  for (int c = 1; c < n_components; ++c) {
    if (!kept[c]) continue;
    ++n_regions;
    const int64_t* o = &overlap[static_cast<size_t>(c) * n_slots];
    const int64_t area = stats.at<int>(c, cv::CC_STAT_AREA);
    const int64_t on_change = area - o[0];
    if (static_cast<double>(on_change) < options.min_region_on_change * static_cast<double>(area)) {
      ++n_false;
      continue;
    }
    size_t best = 1;  // the change it overlaps most; ties go to the first listed
    for (size_t s = 2; s < n_slots; ++s) {
      if (o[s] > o[best]) best = s;
    }
    ChangeCounts& t = result.by_type[changes[best - 1].type];
    t.regions += 1;
    t.regions_true += 1;
    result.overall.regions_true += 1;
  }
  result.overall.regions = n_regions;
  const bool predicted_changed = n_regions > 0;
  result.overall.images = 1;
  result.overall.images_correct = predicted_changed == !changes.empty();
  // False alarms, false-positive pixels and the image-level call count for every type present.
  for (auto& [type, t] : result.by_type) {
    t.regions += n_false;
    t.fp_px = result.overall.fp_px;
    t.images = 1;
    t.images_correct = predicted_changed;  // the query has a change of this type
  }
  return result;
}

ChangeEvaluation AggregateChangeEvaluations(std::vector<QueryChangeResult> queries,
                                            const ChangeMetricsOptions& options) {
  ChangeEvaluation evaluation;
  evaluation.options = options;
  std::set<std::string> types;
  for (const QueryChangeResult& q : queries) types.insert(q.change_types.begin(), q.change_types.end());
  ChangeCounts overall;
  std::map<std::string, ChangeCounts> by_type;
  for (const std::string& type : types) by_type[type] = {};
  for (const QueryChangeResult& q : queries) {
    overall.Add(q.overall);
    if (q.change_types.empty()) {
      // An unchanged query belongs to every type's subset: its false alarms count everywhere.
      for (auto& [type, counts] : by_type) counts.Add(q.overall);
    } else {
      for (const auto& [type, counts] : q.by_type) by_type[type].Add(counts);
    }
    if (!q.has_prediction) evaluation.missing_masks.push_back(q.query);
    if (!q.reference) evaluation.missing_references.push_back(q.query);
    if (q.retrieval_correct) {
      ++evaluation.retrieval_total;
      evaluation.retrieval_correct += *q.retrieval_correct;
    }
  }
  evaluation.overall = ScoresFromCounts(overall);
  for (const auto& [type, counts] : by_type) evaluation.by_type[type] = ScoresFromCounts(counts);
  evaluation.retrieval_accuracy = Ratio(evaluation.retrieval_correct, evaluation.retrieval_total);
  evaluation.queries = std::move(queries);
  return evaluation;
}

ChangeEvaluation EvaluateChangeDataset(const fs::path& dataset, const fs::path& predictions,
                                       const ChangeMetricsOptions& options) {
  options.Check();
  VIGIL_CHECK(fs::is_directory(dataset), "{}: dataset folder does not exist", dataset.string());
  VIGIL_CHECK(fs::is_directory(predictions), "{}: predictions folder does not exist",
              predictions.string());
  const fs::path query_dir = dataset / "query";
  VIGIL_CHECK(fs::is_directory(query_dir), "{}: dataset has no query/ folder", dataset.string());
  const std::vector<fs::path> query_images = io::ListImages(query_dir);
  VIGIL_CHECK(!query_images.empty(), "{}: no query images", query_dir.string());
  const fs::path pairs_file = dataset / "pairs.csv";
  const std::map<std::string, std::string> pairs = ReadPairs(pairs_file);
  const bool have_pairs = fs::exists(pairs_file);

  std::vector<QueryChangeResult> results;
  for (const fs::path& query_image : query_images) {
    const std::string name = query_image.filename().string();
    const std::string stem = query_image.stem().string();
    const fs::path gt_json = dataset / "ground_truth" / (stem + ".json");
    const fs::path gt_png = dataset / "ground_truth" / (stem + ".png");
    VIGIL_CHECK(fs::exists(gt_json), "{}: missing ground truth for query {}", gt_json.string(), name);
    const std::vector<GroundTruthChange> changes = ReadGroundTruthJson(gt_json);
    const cv::Mat labels = io::ReadImage(gt_png, io::ImageMode::kUnchanged);

    const fs::path mask_file = predictions / "masks" / (stem + ".png");
    cv::Mat mask;
    const bool has_mask = fs::exists(mask_file);
    if (has_mask) mask = io::ReadImage(mask_file, io::ImageMode::kUnchanged);

    QueryChangeResult result;
    try {
      result = EvaluateChangeQuery(labels, changes, mask, options);
    } catch (const Error& e) {
      // Name the files: the check inside does not know them.
      ThrowError(fmt::format("query {} (ground truth {}, mask {}): {}", name, gt_png.string(),
                             has_mask ? mask_file.string() : "none", e.what()));
    }
    result.query = name;
    result.has_prediction = has_mask;

    const fs::path prediction_json = predictions / (stem + ".json");
    if (fs::exists(prediction_json)) {
      json j = ReadJsonFile(prediction_json);
      VIGIL_CHECK(j.is_object(), "{}: expected a JSON object", prediction_json.string());
      if (j.contains("reference") && j["reference"].is_object() &&
          j["reference"].contains("image") && j["reference"]["image"].is_string()) {
        result.reference = fs::path(j["reference"]["image"].get<std::string>()).filename().string();
      }
    }
    if (have_pairs) {
      auto it = pairs.find(name);
      if (it != pairs.end()) {
        result.retrieval_correct =
            result.reference.has_value() && *result.reference == fs::path(it->second).filename().string();
      }
    }
    results.push_back(std::move(result));
  }
  return AggregateChangeEvaluations(std::move(results), options);
}

void WriteChangeMetrics(const ChangeEvaluation& e, const fs::path& out_dir) {
  EnsureDirectory(out_dir);
  json j;
  j["overall"] = ScoresJson(e.overall);
  j["by_type"] = json::object();
  for (const auto& [type, scores] : e.by_type) j["by_type"][type] = ScoresJson(scores);
  j["retrieval_accuracy"] = Number(e.retrieval_accuracy);
  j["retrieval"] = {{"correct", e.retrieval_correct}, {"total", e.retrieval_total}};
  j["missing_masks"] = e.missing_masks;
  j["missing_references"] = e.missing_references;
  j["rules"] = {{"min_coverage", e.options.min_coverage},
                {"min_region_on_change", e.options.min_region_on_change},
                {"min_region_px", e.options.min_region_px},
                {"region_connectivity", 8},
                {"by_type", "queries with a change of the type plus unchanged queries; other "
                            "types are don't-care; false alarms count for every type"}};
  json queries = json::array();
  for (const QueryChangeResult& q : e.queries) {
    json changes = json::array();
    for (bool found : q.change_found) changes.push_back(found);
    queries.push_back({{"query", q.query},
                       {"has_prediction", q.has_prediction},
                       {"types", q.change_types},
                       {"changes_found", changes},
                       {"counts", CountsJson(q.overall)},
                       {"reference", q.reference ? json(*q.reference) : json(nullptr)},
                       {"retrieval_correct",
                        q.retrieval_correct ? json(*q.retrieval_correct) : json(nullptr)}});
  }
  j["queries"] = queries;
  WriteTextFileAtomically(out_dir / "metrics.json", j.dump(2) + "\n");

  std::string md = "# Change detection metrics\n\n";
  md += "| scope | queries | changes found | recall | true regions | precision | F1 | pixel IoU "
        "| pixel F1 | image accuracy |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|\n";
  md += TableRow("overall", e.overall);
  for (const auto& [type, scores] : e.by_type) md += TableRow(type, scores);
  md += fmt::format("\nRetrieval accuracy vs pairs.csv: {} ({}/{})\n", Cell(e.retrieval_accuracy),
                    e.retrieval_correct, e.retrieval_total);
  md += fmt::format(
      "\nRules: a change is found when predicted pixels cover >= {:.0f}% of it; a predicted "
      "region (8-connected, >= {} px) is a false alarm when < {:.0f}% of it lies on a change; "
      "pixel scores pool all queries; a type's row covers the queries with a change of that "
      "type plus the unchanged queries (other types are don't-care, false alarms count for "
      "every type).\n",
      100 * e.options.min_coverage, e.options.min_region_px, 100 * e.options.min_region_on_change);
  if (!e.missing_masks.empty()) {
    md += fmt::format("\nNo predicted mask (evaluated as nothing predicted) for {} queries: {}\n",
                      e.missing_masks.size(), fmt::join(e.missing_masks, ", "));
  }
  if (!e.missing_references.empty()) {
    md += fmt::format("\nNo reference in the prediction JSON for {} queries: {}\n",
                      e.missing_references.size(), fmt::join(e.missing_references, ", "));
  }
  WriteTextFileAtomically(out_dir / "metrics.md", md);
}

}  // namespace vigil::eval
