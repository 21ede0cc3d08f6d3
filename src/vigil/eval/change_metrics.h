// Change-detection evaluation on datasets laid out like ../shared/data/changes-freiburg:
//   <dataset>/query/<query>.png, <dataset>/ground_truth/<query stem>.png (8-bit or 16-bit label
//   image: 0 = unchanged, k = change k), <dataset>/ground_truth/<query stem>.json
//   ({"query", "changes": [{"id", "type", "area_px", "bbox_xywh"}]}), <dataset>/pairs.csv
//   (query,reference; optional).
// Predictions, as `vigil inspect` writes them: <predictions>/masks/<query stem>.png (8-bit,
// 0 = unchanged, > 0 = predicted change, same size as the ground truth) and
// <predictions>/<query stem>.json with {"reference": {"image": "<file name>", ...}, ...}.
// A query without a mask counts as "nothing predicted"; one without a JSON (or without
// "reference") counts as a wrong retrieval; both are listed in the result.
//
// Metrics (issue 3, item 7):
//  - object recall: a ground-truth change is found when predicted pixels cover >= 20%
//    (`min_coverage`) of its pixels;
//  - object precision over predicted regions: the 8-connected components of the predicted
//    mask; a region is a false alarm when < 10% (`min_region_on_change`) of its pixels lie on
//    a change, a true detection otherwise; F1 = harmonic mean of the two;
//  - pixel IoU and pixel F1 over the pixels of all queries pooled (not a mean of per-image
//    scores, so that unchanged queries count through their false-positive pixels);
//  - image accuracy: a query is predicted "changed" when it has at least one predicted region;
//    correct when that agrees with "the ground truth has at least one change";
//  - retrieval accuracy: the fraction of pairs.csv queries whose prediction JSON names the
//    listed reference.
// Undefined ratios (0/0: e.g. precision with no predicted region) are NaN, written as null.
//
// Split by change type (one entry per type that the ground truth names): the metrics of type T
// are computed on the queries that contain a change of type T plus the queries with no change
// at all (those carry the false alarms and the image-level negatives of every type). Within
// that subset, changes of other types are "don't care": their pixels count neither as
// positives nor as false positives, and a predicted region that overlaps a change is
// attributed to the type of the change it overlaps most, counting only for that type. A false
// alarm counts against every type whose subset contains its query.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vigil::eval {

struct ChangeMetricsOptions {
  double min_coverage = 0.2;          // fraction of a change's pixels predicted for it to be found
  double min_region_on_change = 0.1;  // fraction of a predicted region on a change to be true
  int min_region_px = 1;              // predicted regions smaller than this are ignored, pixels
  void Check() const;
};

struct GroundTruthChange {
  int id = 0;            // label value in the ground-truth image
  std::string type;      // "textured", "textureless", "removed", ...
  int64_t area_px = 0;   // as stated in the JSON (the label image is what is measured)
};

// Raw counts; the scores are ratios of these.
struct ChangeCounts {
  int changes = 0;             // ground-truth changes
  int changes_found = 0;       // ... covered >= min_coverage
  int regions = 0;             // predicted regions counted
  int regions_true = 0;        // ... with >= min_region_on_change on a change
  int64_t tp_px = 0, fp_px = 0, fn_px = 0;
  int images = 0, images_correct = 0;
  void Add(const ChangeCounts& other);
};

struct ChangeScores {
  double precision = 0, recall = 0, f1 = 0, pixel_iou = 0, pixel_f1 = 0, image_accuracy = 0;
  ChangeCounts counts;
};
ChangeScores ScoresFromCounts(const ChangeCounts& counts);

// One query's evaluation: counts overall and per type (types present in this query only; an
// unchanged query has only false alarms and negatives, which AggregateChangeEvaluations()
// charges to every type).
struct QueryChangeResult {
  std::string query;                         // query image file name
  bool has_prediction = true;                // false: no mask, evaluated as empty
  std::vector<std::string> change_types;     // types present in the ground truth
  std::vector<bool> change_found;            // per ground-truth change, in JSON order
  ChangeCounts overall;
  std::map<std::string, ChangeCounts> by_type;
  std::optional<std::string> reference;      // reference named by the prediction JSON
  std::optional<bool> retrieval_correct;     // nullopt when pairs.csv does not list the query
};

// Evaluates one query. `labels`: CV_8U or CV_16U label image; `predicted`: CV_8U mask of the
// same size (empty Mat = nothing predicted); `changes`: the ground-truth JSON's changes. Labels
// not listed in `changes` are an error (the ground truth would be inconsistent).
QueryChangeResult EvaluateChangeQuery(const cv::Mat& labels,
                                      const std::vector<GroundTruthChange>& changes,
                                      const cv::Mat& predicted,
                                      const ChangeMetricsOptions& options = {});

struct ChangeEvaluation {
  ChangeMetricsOptions options;     // the rules the numbers were computed with
  ChangeScores overall;
  std::map<std::string, ChangeScores> by_type;
  double retrieval_accuracy = 0;    // NaN when there is no pairs.csv
  int retrieval_correct = 0, retrieval_total = 0;
  std::vector<std::string> missing_masks;       // queries evaluated as "nothing predicted"
  std::vector<std::string> missing_references;  // queries without a prediction JSON/reference
  std::vector<QueryChangeResult> queries;
};

// Pools per-query results (see the split-by-type rule above). Retrieval counts come from
// each query's retrieval_correct.
ChangeEvaluation AggregateChangeEvaluations(std::vector<QueryChangeResult> queries,
                                            const ChangeMetricsOptions& options = {});

// Reads the ground truth and predictions and evaluates every query of <dataset>/query.
// Throws vigil::Error naming the file for missing/malformed ground truth, a mask of the wrong
// size, or a malformed prediction JSON.
ChangeEvaluation EvaluateChangeDataset(const std::filesystem::path& dataset,
                                       const std::filesystem::path& predictions,
                                       const ChangeMetricsOptions& options = {});

// Writes <out_dir>/metrics.json ({"overall": {...}, "by_type": {...}, "retrieval_accuracy",
// plus counts, per-query results and missing predictions}) and <out_dir>/metrics.md (tables),
// each atomically.
void WriteChangeMetrics(const ChangeEvaluation& evaluation, const std::filesystem::path& out_dir);

}  // namespace vigil::eval
