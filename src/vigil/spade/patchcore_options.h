// PatchCore's own options (the method itself: patchcore.h; the algorithm: detector.h). A header
// of its own, with no vigil includes, so that AnomalyDetectorOptions (detector.h) can hold it by
// value while patchcore.h includes detector.h (options_fields.h is the only vigil include);
// Check() is defined in patchcore.cc.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vigil/util/options_fields.h"

namespace vigil::spade {

struct PatchCoreOptions {
  // Pyramid tap indices used for the patch features (-1 = all taps but the first, i.e. the
  // mid-level ones: layer2 + layer3 for the resnet preset, s8x + s16x for mobilenet-v2).
  std::vector<int> layers = {-1};
  double coreset_ratio = 0.1;   // fraction of train patches kept in the bank, (0, 1]
  int projection_dim = 128;     // random projection for the coreset distances (0 = none)
  uint64_t seed = 0;            // coreset start point and projection matrix
  int reweight_neighbours = 9;  // b in the paper's image-score reweighting
  double sigma = 4;             // Gaussian smoothing of the score map, pixels (0 = off)
  bool show_progress = false;   // progress bar for the coreset selection (stderr)
  void Check() const;
  // Command-line shorthands (util/options_fields.h OptionFlag); --sigma is SPADE's too.
  static constexpr std::array<OptionFlag, 6> kFlags = {{
      {"coreset-ratio", "coreset_ratio", "PatchCore: fraction of train patches kept"},
      {"projection-dim", "projection_dim",
       "PatchCore: random projection size for the coreset (0 = exact)"},
      {"seed", "seed", "PatchCore: coreset seed"},
      {"patchcore-layers", "layers", "PatchCore: pyramid tap indices (-1 = all but the first)"},
      {"reweight-neighbours", "reweight_neighbours", "PatchCore: b in the image-score reweighting"},
      {"sigma", "sigma", "Gaussian smoothing of the score map (pixels, 0 = off)"},
  }};
  // The fields that shape the bank itself, fixed when it is fitted (the bank records them):
  // scoring cannot change them, so `vigil spade score` offers no flag for them and refuses a
  // --set of one.
  static constexpr std::array<const char*, 4> kFitTimeFields = {
      {"layers", "coreset_ratio", "projection_dim", "seed"}};
  template <class Self, class V>  // util/options_fields.h; show_progress changes no result
  static void Fields(Self& s, V&& v) {
    v("layers", s.layers);
    v("coreset_ratio", s.coreset_ratio);
    v("projection_dim", s.projection_dim);
    v("seed", s.seed);
    v("reweight_neighbours", s.reweight_neighbours);
    v("sigma", s.sigma);
  }
};

}  // namespace vigil::spade
