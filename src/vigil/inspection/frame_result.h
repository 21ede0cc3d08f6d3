// The outcome of inspecting one query frame, as a typed value: which reference was chosen and
// why, how it was verified, the detections, the confirmation by further views and the timings.
// Inspector::InspectFrame returns it and writes no files; the run driver, the CLI summary and
// the ROS node consume it, and ToJson (below) is the one place that turns it into the
// documented, versioned per-query JSON (FrameResultSchema).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/inspection/change_detector.h"
#include "vigil/matching/types.h"
#include "vigil/retrieval/reference_selector.h"
#include "vigil/segmentation/segmenter.h"

namespace vigil {

// The per-query JSON layout version ("format" in every document). Bumped when the rules or the
// layout change, so that resuming an output folder made by an earlier vigil recomputes it.
constexpr int kFrameResultFormat = 5;

// The geometric check of the reference finally used (matching/verification.h CheckView).
struct ReferenceVerification {
  bool passed = false;
  std::string model;          // "homography" | "fundamental" | "" (no model fitted)
  int matches = 0;
  int inliers = 0;
  double inlier_ratio = 0;
  double span = 0;            // inlier hull area / query area
  double null_inliers = -1;   // mean inliers on shuffled matches (chance level), -1 if untested
  double null_probability = -1;  // P(inliers this many by chance), -1 if untested
  std::string reason;         // why it passed or failed
  // Set when the first candidate failed and another reference replaced it.
  std::string replaced_image;
  std::string replaced_reason;
};

// Feedback for the localization: the reference that appearance ranks first is not one the
// pose accepts, yet it passes verification with more inliers than the pose-chosen one.
struct AppearanceDisagreement {
  std::string image;                // the appearance-preferred reference
  double similarity = 0;            // its global descriptor cosine
  int inliers = 0;                  // its verified inliers
  int chosen_inliers = 0;           // the pose-chosen reference's
  std::optional<double> distance_m;  // from the query's pose to it
};

// The keypoint evidence's confirmation by a second verified reference (ConfirmWithSecondView).
struct SecondViewOutcome {
  std::string image;                  // reference file name
  std::optional<double> distance_m;   // query-to-second-reference distance, with poses
  int verified_matches = 0;
  bool localization_error = false;
  int unconfirmed_anomalies = 0;      // anomalies the second view dropped
};

// The dense change map: the references whose minimum score was taken, and its threshold.
struct DenseOutcome {
  // "evidence" (its thresholded regions are the anomalies) | "confirmation" (it confirmed the
  // keypoint evidence's candidates, InspectorOptions::confirmation "dense").
  std::string role = "evidence";
  int unconfirmed_anomalies = 0;  // confirmation: candidates it did not confirm
  std::vector<std::string> references;  // file names, chosen reference first
  // How each was registered into the query, in the same order: "identity" | "homography" |
  // "flow" (InspectorOptions::dense_registration).
  std::vector<std::string> registrations;
  double threshold = 0;
};

struct FrameResult {
  std::string query;                      // file name
  retrieval::ReferenceChoice choice;      // index -1 when no reference qualifies or verifies
  std::string reference_image;            // file name of the chosen reference, "" if none
  std::optional<ReferenceVerification> verification;  // absent when no candidate existed
  std::optional<AppearanceDisagreement> appearance_prefers;  // pose and appearance disagree
  double threshold = 0;                   // matcher threshold
  std::string evidence;                   // "keypoints" | "dense"
  bool inspected = false;                 // false: no verified reference (not inspectable)
  std::string note;                       // why the frame is not inspectable, or the detector's note
  int num_instances = 0;
  ChangeDetectionResult detection;        // anomalies, overlap, keypoint bookkeeping
  std::optional<SecondViewOutcome> second_view;
  std::optional<DenseOutcome> dense;
  std::map<std::string, double> timings_ms;
  // What the outputs need: the panel, the JSON's keypoint positions, the events' warping.
  Features query_features;
  Features reference_features;
  Matches matches;                        // query -> chosen reference
  std::vector<Instance> instances;
  cv::Mat reference_image_pixels;         // the chosen reference (shares the cache's buffer)
  cv::Mat query_to_reference;             // 3x3 CV_64F homography (verification), may be empty
  cv::Mat dense_score;                    // CV_32F query size, dense evidence only: the score
                                          // (minimum over the references), 0 where none sees

  // Not inspectable: no reference verified, or the detector's own localization check fired.
  bool localization_error() const { return !inspected || detection.localization_error; }
  bool changed() const { return !detection.anomalies.empty(); }
};

// The documented per-query JSON of `r` (FrameResultSchema), without "config_hash", which the
// run driver adds.
nlohmann::json ToJson(const FrameResult& r);

// The per-query JSON layout: every key ToJson writes (and the run driver's "config_hash"),
// each with what it holds; objects nest, and a one-element array gives the layout of the items.
// docs and the schema test read this; result_io.h documents the mask encoding.
const nlohmann::json& FrameResultSchema();

}  // namespace vigil
