// The Matcher interface: features of two images in, Matches (matching/types.h) out.
// Implementations: mutual nearest neighbour (nearest_neighbor.h), SuperGlue (superglue.h),
// LightGlue (lightglue.h). Every matcher's confidence is in [0, 1] and its threshold keeps the
// mutual matches with confidence > threshold, so FilterMatchesByConfidence(Match(t=0), t) equals
// Match(t): the self-calibration sweep (calibration/) runs a matcher once and filters.
// Each matcher keeps its options struct in its own <name>_options.h (naming its confidence
// threshold field there) and defines that struct's Check() in its own .cc; adding one is that
// file set plus one member below and one line in matcher.cc's table (docs/architecture.md).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vigil/features/types.h"
#include "vigil/matching/lightglue_options.h"
#include "vigil/matching/nearest_neighbor_options.h"
#include "vigil/matching/superglue_options.h"
#include "vigil/matching/types.h"

namespace vigil {

struct MatcherOptions {
  std::string type = "nn";  // nn | superglue | lightglue
  int num_threads = 2;      // CPU threads
  NearestNeighborOptions nn;
  SuperGlueOptions superglue;
  LightGlueOptions lightglue;
  // The confidence threshold of whichever matcher `type` names (used by self-calibration and
  // the front ends' --threshold): the field its options struct names kConfidenceThreshold.
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

// Every matcher's command-line shorthands (their options' kFlags), with the field path in
// MatcherOptions ("nn.ratio"), so the front ends bind them without a line per matcher.
std::vector<PluginFlag> MatcherPluginFlags();

// Drops the matches whose confidence is <= threshold (keeps both directions consistent).
Matches FilterMatchesByConfidence(const Matches& matches, float threshold);

}  // namespace vigil
