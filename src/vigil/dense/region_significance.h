// Is a candidate change region significant against maps where nothing changed?
//
// A candidate (a segment or keypoint cluster that Algorithm 1 found on one reference) is judged
// by the dense score inside it: the mean of its kind's score ("new" or "missing") over the
// region's pixels that the references see. Its null distribution: the same region shape placed
// on a grid of positions over null maps, plus its own position. The candidate is significant
// when the share of placements that score at least as high, (1 + #{null >= s}) / (1 + N) as in
// a permutation test, is at most false_alarm_rate. The null maps are either
//  - the query's own map ("frame"): the region must stand out from the rest of its own frame,
//    which carries exactly this view pair's registration error and parallax (a change covers
//    a small part of a frame; where it does not, the test only gets more cautious), or
//  - change-free maps of the reference run ("run"): each reference frame scored against its
//    neighbours exactly as a query is against its references; calibrated on the clean run, but
//    conservative where neighbouring reference frames lie farther apart than a query from its
//    nearest reference, as they usually do (about twice).
//
// Why a region test and not a per-pixel threshold: between real viewpoints parallax and
// disocclusion leave thin high-scoring strips along depth edges, so any pixel threshold that
// keeps clean maps quiet also loses a whole object, whose scores are moderate but spread over
// its area. Averaging over the candidate's own shape compares like with like, and the false-
// alarm rate is per candidate, which is what a user counts.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/dense/change_map.h"

namespace vigil::dense {

struct RegionTestOptions {
  // Largest share of null placements allowed to score at least as high as the candidate. The
  // frame null has about 80-500 placements, so the smallest attainable rate is about 0.01.
  // (0, 1).
  double false_alarm_rate = 0.05;
  // A region (or a placement of it) is judged only when the references see at least this share
  // of its pixels. (0, 1].
  double min_valid_fraction = 0.5;
  // Placements step by this fraction of the region's box size along each axis (smaller: more,
  // more correlated, placements; large regions step at most an eighth of
  // the free range). (0, 1].
  double placement_step = 0.5;
  // Which null maps the inspector passes: "frame" or "run" (above).
  std::string null = "frame";

  void Check() const;

  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("false_alarm_rate", s.false_alarm_rate);
    v("min_valid_fraction", s.min_valid_fraction);
    v("placement_step", s.placement_step);
    v("null", s.null);
  }
};

struct RegionTest {
  bool judged = false;       // enough of the region is seen, and there are clean placements
  bool significant = false;  // judged and null_rate <= false_alarm_rate
  double statistic = 0;      // mean score of the region's kind over its seen pixels
  double null_rate = 1;      // (1 + #{clean placements >= statistic}) / (1 + N)
  int null_samples = 0;      // N
};

// The kind's score of `map`: new_score for "new", missing_score for "missing".
const cv::Mat& ScoreOfKind(const ChangeMap& map, const std::string& kind);

// mask: CV_8U of the map's size, non-zero inside the region. kind: "new" | "missing". nulls:
// the null maps (any sizes; placements are made within each; `map` itself for the frame null). Throws vigil::Error on a
// mask of another size or an unknown kind. An empty region, or one the references do not see,
// is not judged.
RegionTest TestRegion(const ChangeMap& map, const cv::Mat& mask, const std::string& kind,
                      const std::vector<ChangeMap>& nulls, const RegionTestOptions& options);

}  // namespace vigil::dense
