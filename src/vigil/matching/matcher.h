// The Matcher interface: features of two images in, Matches (matching/types.h) out.
// Implementations: mutual nearest neighbour (nearest_neighbor.h), SuperGlue (superglue.h),
// LightGlue (lightglue.h). Every matcher's confidence is in [0, 1] and its threshold keeps the
// mutual matches with confidence > threshold, so FilterMatchesByConfidence(Match(t=0), t) equals
// Match(t): the self-calibration sweep (calibration/) runs a matcher once and filters.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil {

// Mutual nearest neighbour on descriptor similarity. Confidence of a float-descriptor match is
// the cosine similarity of the two (L2-normalised) descriptors clamped to [0, 1]; for binary
// descriptors it is 1 - hamming / bits. Both are monotone in descriptor similarity.
struct NearestNeighborOptions {
  float threshold = 0.0f;  // keep matches with confidence > threshold, in [0, 1)
  float ratio = 1.0f;      // Lowe ratio test on distances: keep if d1 < ratio * d2; 1 = off
  bool mutual = true;      // require i -> j and j -> i
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("threshold", s.threshold);
    v("ratio", s.ratio);
    v("mutual", s.mutual);
  }
  void Check() const;
};

struct SuperGlueOptions {
  std::string weights;              // superglue_{indoor,outdoor}.pth; empty = search path
  std::string weights_name = "indoor";  // which official file to look for: indoor | outdoor
  int sinkhorn_iterations = 100;    // log-domain Sinkhorn iterations
  float match_threshold = 0.2f;     // keep mutual matches with score > threshold
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("weights", s.weights);
    v("weights_name", s.weights_name);
    v("sinkhorn_iterations", s.sinkhorn_iterations);
    v("match_threshold", s.match_threshold);
  }
  void Check() const;
};

struct LightGlueOptions {
  std::string weights;              // superpoint_lightglue.pth / aliked_lightglue.pth; empty = search path
  float depth_confidence = 0.95f;   // early exit when this fraction of tokens is confident; <0 = off
  float width_confidence = 0.99f;   // point pruning threshold; <0 = off
  float filter_threshold = 0.1f;    // keep mutual matches with score > threshold
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("weights", s.weights);
    v("depth_confidence", s.depth_confidence);
    v("width_confidence", s.width_confidence);
    v("filter_threshold", s.filter_threshold);
  }
  void Check() const;
};

struct MatcherOptions {
  std::string type = "nn";  // nn | superglue | lightglue
  int num_threads = 2;      // CPU threads
  NearestNeighborOptions nn;
  SuperGlueOptions superglue;
  LightGlueOptions lightglue;
  // The confidence threshold of whichever matcher `type` names (used by self-calibration).
  float threshold() const;
  void set_threshold(float value);
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("type", s.type);
    v("num_threads", s.num_threads);
    v("nn", s.nn);
    v("superglue", s.superglue);
    v("lightglue", s.lightglue);
  }
  void Check() const;
};

class Matcher {
 public:
  virtual ~Matcher() = default;
  virtual Matches Match(const Features& features0, const Features& features1) = 0;
  virtual std::string name() const = 0;
  static std::unique_ptr<Matcher> Create(const MatcherOptions& options);

  // The model files this instance loaded (weights, graphs), for the configuration identity:
  // a result computed with other weights must not be taken for this one's.
  const std::vector<std::filesystem::path>& model_files() const { return model_files_; }
  void set_model_files(std::vector<std::filesystem::path> files) { model_files_ = std::move(files); }

 private:
  std::vector<std::filesystem::path> model_files_;
};

std::vector<std::string> MatcherNames();

// Drops the matches whose confidence is <= threshold (keeps both directions consistent).
Matches FilterMatchesByConfidence(const Matches& matches, float threshold);

}  // namespace vigil
