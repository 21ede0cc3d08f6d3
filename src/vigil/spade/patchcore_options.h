// PatchCore's own options (the method itself: patchcore.h; the algorithm: detector.h). A header
// of its own, with no vigil includes, so that AnomalyDetectorOptions (detector.h) can hold it by
// value while patchcore.h includes detector.h; Check() is defined in patchcore.cc.
#pragma once

#include <cstdint>
#include <vector>

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
