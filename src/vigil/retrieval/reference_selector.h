// Reference selection: for each query image, the reference image to compare it with.
//
// Rules, in order (issue 3, item 3):
//  1. "pose": among references whose position is within `max_distance_m` of the query and
//     whose orientation is within `max_angle_deg`, the nearest in position (KD-tree over the
//     reference positions, nanoflann). When the query has no pose, or no reference qualifies,
//     go to 2.
//     Pose noise: when another qualifying reference is nearly as near (distance <=
//     nearest * `pose_tie_ratio`), the near-ties are settled by `pose_tie_break`:
//      - kPath (default; rule "pose+path"): the nearest of the tied references that lie
//        behind the query along the reference run's direction of travel. A camera moving
//        forward sees less at each step, so the reference taken just behind the query's
//        position covers the query's whole view, while one taken ahead has already lost the
//        query's borders, which then show up as unmatched "changes". For a camera looking
//        sideways it is a deterministic choice that does not depend on the images (which
//        hold the very changes being looked for). Needs two or more posed reference frames;
//        when no tied reference is behind the query, the nearest wins.
//      - kMatches (rule "pose+matches"): the one with the most verified matches (needs the
//        caller's verifier; without one, the nearest).
//      - kNearest (rule "pose"): the nearest, ties or not.
//     changes-freiburg: every query is ~0.30 m from two references, their difference within
//     the pose jitter; pairs.csv lists the previous frame, which is what kPath picks.
//  2. "appearance": the top `appearance_top_k` references by cosine similarity of a global
//     image descriptor (below), then, when the caller gave a verifier, the one with the most
//     verified matches (at least `min_verified_matches`; otherwise no reference: rule "none").
//     Without a verifier, the most similar reference is taken.
//
// Appearance descriptor (`appearance_descriptor`):
//  - "thumbnail": the weight-free thumbnail descriptor below (the fallback);
//  - "gem" (default): the place-recognition descriptor of place_descriptor.h (GeM-pooled MobileNetV2
//    features; survives viewpoint change, where the thumbnail does not), PCA-whitened on the
//    reference run's own descriptors and, with place.fuse_thumbnail (default), fused with the
//    thumbnail descriptor: the similarity is the mean of the two cosines. GeM alone ranks
//    look-alike places (PCB boards) below the thumbnail under mild viewpoint change, the
//    thumbnail alone fails under stronger change; fused, it is at least as good as either on
//    every set of bench/bench_retrieval.cc. When its backbone cannot be found or loaded, the
//    selector falls back to the thumbnail and says so in ReferenceChoice::descriptor and
//    fallback_reason(); a map builder does not fall back (a map records the descriptor it
//    stores, see map/map_builder.h).
//
// Thumbnail descriptor (weight-free, robust to the gain/offset lighting changes between runs):
// the grayscale image resized (INTER_AREA) to `thumbnail_width` x `thumbnail_height` and
// blurred, then two halves, each normalised to unit length and scaled by 1/sqrt(2):
//  - the thumbnail minus its mean (so the cosine of two thumbnails is their normalised
//    cross-correlation: invariant to gain and offset);
//  - a 4x4 grid of 8-bin gradient-orientation histograms weighted by gradient magnitude
//    (HOG-like: tolerant to small shifts).
// The cosine of two descriptors is the mean of the two similarities, in [-1, 1].
//
// Verification is a callback so that retrieval does not depend on extractors or matchers:
// verify(query_index, reference_index) returns the number of verified matches (e.g. mutual-NN
// matches above the calibrated threshold, or RANSAC inliers) between the two images.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/retrieval/place_descriptor.h"
#include "vigil/retrieval/run.h"

namespace vigil::retrieval {

enum class PoseTieBreak { kPath, kMatches, kNearest };
// "path" | "matches" | "nearest"; throws vigil::Error naming `option` for anything else.
PoseTieBreak ParsePoseTieBreak(const std::string& name, const std::string& option = "pose_tie_break");
const char* ToString(PoseTieBreak tie_break);
// The form util/options_fields.h looks for (the last argument only selects the overload).
inline PoseTieBreak Parse(const std::string& name, const std::string& option, PoseTieBreak*) {
  return ParsePoseTieBreak(name, option);
}

struct ReferenceSelectorOptions {
  bool use_poses = true;           // false: always select by appearance
  double max_distance_m = 1.0;     // pose rule: largest query-reference distance, metres
  double max_angle_deg = 30.0;     // pose rule: largest relative rotation angle, degrees
  double pose_tie_ratio = 1.25;    // pose rule: candidates within nearest * ratio are near-ties
                                   // settled by pose_tie_break; 1 = the nearest always wins
  PoseTieBreak pose_tie_break = PoseTieBreak::kPath;
  int max_pose_ties = 3;           // at most this many pose candidates are considered ties
  int appearance_top_k = 5;        // appearance rule: references verified, by similarity
  int min_verified_matches = 10;   // appearance rule: fewer verified matches = no reference
  std::string appearance_descriptor = "gem";  // "gem" | "thumbnail" (see above)
  int thumbnail_width = 64;        // thumbnail descriptor size, pixels
  int thumbnail_height = 48;
  PlaceDescriptorOptions place;    // the "gem" descriptor
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("use_poses", s.use_poses);
    v("max_distance_m", s.max_distance_m);
    v("max_angle_deg", s.max_angle_deg);
    v("pose_tie_ratio", s.pose_tie_ratio);
    v("pose_tie_break", s.pose_tie_break);
    v("max_pose_ties", s.max_pose_ties);
    v("appearance_top_k", s.appearance_top_k);
    v("min_verified_matches", s.min_verified_matches);
    v("appearance_descriptor", s.appearance_descriptor);
    v("thumbnail_width", s.thumbnail_width);
    v("thumbnail_height", s.thumbnail_height);
    v("place", s.place);
  }
  void Check() const;
};

struct ReferenceChoice {
  int reference_index = -1;  // index into the reference run's frames; -1 = none found
  std::string rule = "none";  // "pose" | "pose+path" | "pose+matches" | "appearance" | "none"
  double distance_m = std::numeric_limits<double>::quiet_NaN();  // NaN without poses
  double angle_deg = std::numeric_limits<double>::quiet_NaN();   // NaN without poses
  // Cosine of the query and reference descriptors (gem: after the whitening); NaN if unused.
  double appearance_score = std::numeric_limits<double>::quiet_NaN();
  int verified_matches = -1;  // -1 when the verifier was not called for the chosen reference
  // Appearance rule: the descriptor used, "thumbnail" | "gem" | "thumbnail (gem unavailable)"
  // (ReferenceSelector::fallback_reason() says why); empty for the pose rules.
  std::string descriptor;
  // The other references this rule would accept, best first: for "pose*" every other one
  // qualifying by pose, nearest first; for "appearance" the other verified top-k with at least
  // min_verified_matches, most matches first. A second view for confirmation comes from here.
  std::vector<int> alternatives;
  bool found() const { return reference_index >= 0; }
};

// verify(query_index, reference_index) -> number of verified matches. May be empty.
using VerifyFn = std::function<int(int query_index, int reference_index)>;

// The thumbnail descriptor of an image (any depth/channels; converted to gray), unit length.
std::vector<float> GlobalDescriptor(const cv::Mat& image, const ReferenceSelectorOptions& options);

// The appearance descriptor `options.appearance_descriptor` selects, as the selector and the
// map builder compute it (the same numbers for the same decoded image).
class AppearanceDescriber {
 public:
  // Loads the "gem" backbone when selected. When it cannot be loaded: with `allow_fallback`
  // the thumbnail descriptor is used and fallback_reason() says why; without, throws.
  AppearanceDescriber(const ReferenceSelectorOptions& options, bool allow_fallback);
  ~AppearanceDescriber();
  AppearanceDescriber(AppearanceDescriber&&) noexcept;
  AppearanceDescriber& operator=(AppearanceDescriber&&) noexcept;

  // What a map stores: the thumbnail descriptor (unit length), or for gem the GeM descriptor
  // (unit length, gem_dim() values) followed, with place.fuse_thumbnail, by the thumbnail
  // descriptor (unit length); the selector whitens and weights the parts (see above).
  std::vector<float> Describe(const cv::Mat& image);
  size_t dim() const { return dim_; }
  size_t gem_dim() const { return gem_dim_; }  // 0 for the thumbnail
  const std::string& kind() const { return kind_; }  // "thumbnail" | "gem": what Describe computes
  const std::string& fallback_reason() const { return fallback_reason_; }  // empty: none
  // The backbone file of "gem"; empty for the thumbnail.
  std::filesystem::path model_file() const;

 private:
  ReferenceSelectorOptions options_;
  std::unique_ptr<PlaceDescriber> place_;  // null: thumbnail
  std::string kind_;
  std::string fallback_reason_;
  size_t dim_ = 0;
  size_t gem_dim_ = 0;
};
// Cosine similarity of two unit-length descriptors of the same size.
double DescriptorSimilarity(const std::vector<float>& a, const std::vector<float>& b);

// Selects references for queries of one run against one reference run. Builds the KD-tree on
// construction; reference descriptors are computed (reading the reference images) the first
// time the appearance rule is needed. Not thread-safe: one selector per thread.
class ReferenceSelector {
 public:
  // Throws vigil::Error when the reference run is empty or the options are bad.
  ReferenceSelector(const Run& reference, const ReferenceSelectorOptions& options = {});
  ~ReferenceSelector();
  ReferenceSelector(ReferenceSelector&&) noexcept;
  ReferenceSelector& operator=(ReferenceSelector&&) noexcept;

  // The `top_k` references most similar to the query by the global descriptor, best first, as
  // (reference index, cosine). Reads the reference images the first time (unless descriptors
  // were set).
  std::vector<std::pair<int, double>> RankByAppearance(const cv::Mat& query_image, int top_k);
  // Appearance descriptors of the reference frames computed earlier (a map file built with the
  // same appearance_descriptor, see map/map_builder.h), one per frame in run order, instead of
  // reading the images. Throws when the count or size does not match (e.g. "gem" descriptors
  // while this selector fell back to the thumbnail).
  void SetReferenceDescriptors(std::vector<std::vector<float>> descriptors);
  // The descriptor the appearance rule uses ("thumbnail" | "gem") and, after a fallback, why
  // "gem" was not available (empty otherwise). Loads the backbone if not done yet.
  const std::string& appearance_descriptor();
  const std::string& fallback_reason();
  // The reference for `query` (its index in the query run is passed to `verify`).
  // `query_image`: the query image if the caller has it already; otherwise it is read from
  // query.image when the appearance rule needs it.
  ReferenceChoice Select(const RunFrame& query, int query_index, const VerifyFn& verify = {},
                         const cv::Mat& query_image = cv::Mat());

  // All references qualifying by pose (distance and angle thresholds), nearest first, as
  // (reference index, distance m, angle deg). Empty when the query has no pose.
  struct PoseCandidate {
    int reference_index;
    double distance_m;
    double angle_deg;
  };
  std::vector<PoseCandidate> PoseCandidates(const Pose& query_pose) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: Select() for every frame of `query`, in order.
std::vector<ReferenceChoice> SelectReferences(const Run& reference, const Run& query,
                                              const ReferenceSelectorOptions& options = {},
                                              const VerifyFn& verify = {});

}  // namespace vigil::retrieval
