#include "vigil/inspection/frame_result.h"

#include <cmath>

#include "vigil/inspection/result_io.h"

namespace vigil {
using nlohmann::json;

namespace {

json Number(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json MatrixToJson(const cv::Mat& m) {
  if (m.empty()) return nullptr;
  json rows = json::array();
  for (int r = 0; r < m.rows; ++r) {
    json row = json::array();
    for (int c = 0; c < m.cols; ++c) row.push_back(m.at<double>(r, c));
    rows.push_back(row);
  }
  return rows;
}

json ReferenceToJson(const FrameResult& r) {
  const retrieval::ReferenceChoice& c = r.choice;
  return {{"image", r.reference_image.empty() ? json(nullptr) : json(r.reference_image)},
          {"rule", c.rule},
          {"distance_m", Number(c.distance_m)},
          {"angle_deg", Number(c.angle_deg)},
          {"appearance_score", Number(c.appearance_score)},
          {"verified_matches", c.verified_matches}};
}

json VerificationToJson(const std::optional<ReferenceVerification>& v) {
  if (!v) return nullptr;
  json out = {{"passed", v->passed},       {"model", v->model},
              {"matches", v->matches},     {"inliers", v->inliers},
              {"inlier_ratio", v->inlier_ratio}, {"span", v->span},
              {"null_inliers", v->null_inliers < 0 ? json(nullptr) : json(v->null_inliers)},
              {"null_probability", v->null_probability < 0 ? json(nullptr) : json(v->null_probability)},
              {"reason", v->reason},       {"replaced", nullptr}};
  if (!v->replaced_image.empty()) {
    out["replaced"] = {{"image", v->replaced_image}, {"reason", v->replaced_reason}};
  }
  return out;
}

json KeypointsToJson(const FrameResult& r) {
  const ChangeDetectionResult& d = r.detection;
  auto when_inspected = [&](size_t n) { return r.inspected ? json(n) : json(nullptr); };
  return {{"query", r.query_features.size()},
          {"reference", when_inspected(r.reference_features.size())},
          {"matches", r.inspected ? json(r.matches.num_matches()) : json(nullptr)},
          {"matched_in_overlap", when_inspected(d.matched_in_overlap.size())},
          {"unmatched_in_overlap", when_inspected(d.unmatched_in_overlap.size())},
          {"explained_by_reference", when_inspected(d.explained.size())}};
}

json OverlapToJson(const FrameResult& r) {
  if (!r.inspected) return nullptr;
  json polygon = json::array();
  for (const cv::Point& p : r.detection.overlap.polygon) polygon.push_back({p.x, p.y});
  return {{"method", r.detection.overlap.method},
          {"polygon", polygon},
          {"area_fraction", r.detection.overlap.area_fraction}};
}

json AppearanceToJson(const std::optional<AppearanceDisagreement>& a) {
  if (!a) return nullptr;
  return {{"image", a->image},
          {"similarity", a->similarity},
          {"inliers", a->inliers},
          {"chosen_inliers", a->chosen_inliers},
          {"distance_m", a->distance_m ? json(*a->distance_m) : json(nullptr)}};
}

json SecondViewToJson(const std::optional<SecondViewOutcome>& s) {
  if (!s) return nullptr;
  return {{"image", s->image},
          {"distance_m", s->distance_m ? json(*s->distance_m) : json(nullptr)},
          {"verified_matches", s->verified_matches},
          {"localization_error", s->localization_error},
          {"unconfirmed_anomalies", s->unconfirmed_anomalies}};
}

json DenseToJson(const std::optional<DenseOutcome>& d) {
  if (!d) return nullptr;
  return {{"role", d->role},
          {"references", d->references},
          {"registrations", d->registrations},
          {"threshold", d->threshold},
          {"unconfirmed_anomalies", d->unconfirmed_anomalies}};
}

}  // namespace

json ToJson(const FrameResult& r) {
  const ChangeDetectionResult& d = r.detection;
  json timings = json::object();
  for (const auto& [stage, ms] : r.timings_ms) timings[stage] = ms;
  return {{"format", kFrameResultFormat},
          {"query", r.query},
          {"reference", ReferenceToJson(r)},
          {"verification", VerificationToJson(r.verification)},
          {"appearance_prefers", AppearanceToJson(r.appearance_prefers)},
          {"threshold", r.threshold},
          {"evidence", r.evidence},
          {"inspected", r.inspected},
          {"keypoints", KeypointsToJson(r)},
          {"overlap", OverlapToJson(r)},
          {"query_to_reference", MatrixToJson(r.query_to_reference)},
          {"localization_error", r.localization_error()},
          {"note", r.note},
          {"eps_px", d.eps_px},
          {"eps_note", d.eps_note},
          {"withheld_anomalies", d.withheld_anomalies},
          {"second_reference", SecondViewToJson(r.second_view)},
          {"dense", DenseToJson(r.dense)},
          {"instances", r.num_instances},
          {"anomalies", AnomaliesToJson(d.anomalies, r.query_features, r.reference_features)},
          // What the second view dropped, for whoever wonders why a change was not reported.
          {"unconfirmed_anomalies",
           AnomaliesToJson(d.unconfirmed, r.query_features, r.reference_features)},
          {"timings_ms", timings}};
}

const json& FrameResultSchema() {
  static const json anomaly = {
      {"id", "index in this list"},
      {"kind", "\"new\" (only in the query) | \"missing\" (only in the reference)"},
      {"source", "\"instance\" (segmenter) | \"cluster\" (DBSCAN) | \"dense\" (dense change map)"},
      {"label", "segmenter class, \"unknown\" for clusters and dense regions"},
      {"score", "keypoints: unmatched share in [0, 1]; dense: the region's peak score"},
      {"segmenter_score", "the segmenter's confidence (1 for clusters)"},
      {"num_unmatched", "unmatched keypoints inside"},
      {"num_matched", "matched keypoints inside"},
      {"bbox", "[x, y, w, h] in query pixels"},
      {"polygon", "outline of the mask's largest part, [[x, y], ...]"},
      {"mask_rle", "{\"size\": [h, w], \"counts\": [...]}, COCO uncompressed RLE (result_io.h)"},
      {"points", "unmatched keypoints [[x, y], ...] (reference pixels for missing objects)"},
      {"dense_confirmation",
       {{"statistic", "mean dense score of its kind over the region (dense/region_significance.h)"},
        {"null_rate", "share of change-free placements of the region scoring as high"}}}};
  static const json schema = {
      {"format", "layout version (kFrameResultFormat)"},
      {"config_hash", "the configuration identity this result was computed with (resume key)"},
      {"query", "query file name"},
      {"reference",
       {{"image", "chosen reference file name, null when none"},
        {"rule", "how it was chosen: pose, pose+path, pose+matches, appearance, pairs, "
                 "single-reference, with +reverified when a failing candidate was replaced; "
                 "none or failed-verification when no reference"},
        {"distance_m", "query-reference distance with poses, else null"},
        {"angle_deg", "relative rotation with poses, else null"},
        {"appearance_score", "global descriptor cosine when appearance was used, else null"},
        {"verified_matches", "the retrieval verifier's count, -1 when not called"}}},
      {"verification",
       {{"passed", "the chosen reference shows the query's place (CheckView)"},
        {"model", "homography | fundamental"},
        {"matches", "matches checked"},
        {"inliers", "geometric inliers"},
        {"inlier_ratio", "inliers / matches"},
        {"span", "inlier hull area / query area"},
        {"null_inliers", "mean inliers of the same fit on shuffled matches (chance level), null if untested"},
        {"null_probability", "binomial probability of this many inliers at chance level, null if untested"},
        {"reason", "why it passed or failed"},
        {"replaced", "{image, reason} of the first candidate when it failed and was replaced, else null"}}},
      {"appearance_prefers",
       {{"image", "the reference appearance ranks first, outside the pose's candidates"},
        {"similarity", "its global descriptor cosine"},
        {"inliers", "its verified inliers, more than the pose-chosen reference's"},
        {"chosen_inliers", "the pose-chosen reference's verified inliers"},
        {"distance_m", "query pose to it, metres: how far the localization may be off"}}},
      {"threshold", "matcher threshold"},
      {"evidence", "keypoints | dense"},
      {"inspected", "a verified reference was compared; false = not inspectable"},
      {"keypoints",
       {{"query", "query keypoints"},
        {"reference", "reference keypoints (null when not inspected)"},
        {"matches", "query-reference matches"},
        {"matched_in_overlap", "matched query keypoints in the overlap"},
        {"unmatched_in_overlap", "unmatched query keypoints in the overlap"},
        {"explained_by_reference", "unmatched points the reference's photometry explains"}}},
      {"overlap",
       {{"method", "box | hull | homography"},
        {"polygon", "[[x, y], ...] in query pixels"},
        {"area_fraction", "overlap area / query area"}}},
      {"query_to_reference", "3x3 homography mapping query pixels into the reference (row-major rows), "
                             "null when none fits; the change events compare boxes through it"},
      {"localization_error", "true: not inspectable (no verified reference, or Algorithm 1's check)"},
      {"note", "why the frame is not inspectable, or the detector's note"},
      {"eps_px", "DBSCAN eps used"},
      {"eps_note", "how eps was chosen"},
      {"withheld_anomalies", "anomalies dropped by the localization check"},
      {"second_reference",
       {{"image", "second reference file name"},
        {"distance_m", "query-second reference distance with poses, else null"},
        {"verified_matches", "its matches"},
        {"localization_error", "its own localization check"},
        {"unconfirmed_anomalies", "anomalies it did not confirm"}}},
      {"dense",
       {{"references", "file names of the references the minimum was taken over"},
        {"registrations", "per reference: identity | homography | flow (dense/registration.h)"},
        {"role", "evidence (its regions are the anomalies) | confirmation (it confirmed the "
                 "keypoint candidates: InspectorOptions::confirmation dense)"},
        {"threshold", "the dense pixel threshold, calibrated on the reference run (confirmation: "
                      "the heat map's scale only)"},
        {"unconfirmed_anomalies", "confirmation: candidates whose region it did not make significant"}}},
      {"instances", "segmenter instances in the query"},
      {"anomalies", json::array({anomaly})},
      {"unconfirmed_anomalies", json::array({anomaly})},
      {"timings_ms", "per stage, milliseconds (keys vary with the stages run)"}};
  return schema;
}

}  // namespace vigil
