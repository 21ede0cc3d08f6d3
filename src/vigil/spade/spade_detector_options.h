// SPADE's own options (the method itself: spade_detector.h; the algorithm: detector.h). A header
// of its own, with no vigil includes, so that AnomalyDetectorOptions (detector.h) can hold it by
// value while spade_detector.h includes detector.h (options_fields.h is the only vigil include);
// Check() is defined in spade_detector.cc.
#pragma once

#include <array>

#include "vigil/util/options_fields.h"

namespace vigil::spade {

struct SpadeOptions {
  int k = 5;                        // nearest train images (paper: 50, SPADE-pytorch: 5)
  int kappa = 1;                    // nearest pixel features per query pixel
  bool concatenate_layers = false;  // paper's variant: one concatenated feature per pixel
  double sigma = 4;                 // Gaussian smoothing of the score map, pixels (0 = off)
  void Check() const;
  // Command-line shorthands (util/options_fields.h OptionFlag). --sigma is PatchCore's too: one
  // flag for the score map's smoothing, whichever method runs. All are read when scoring.
  static constexpr std::array<OptionFlag, 4> kFlags = {{
      {"top-k", "k", "SPADE: nearest train images", 'k'},
      {"kappa", "kappa", "SPADE: nearest pixel features per pixel"},
      {"concatenate-layers", "concatenate_layers",
       "SPADE: the paper's variant, one concatenated feature per pixel"},
      {"sigma", "sigma", "Gaussian smoothing of the score map (pixels, 0 = off)"},
  }};
  template <class Self, class V>  // util/options_fields.h: identity, --set, the bank's record
  static void Fields(Self& s, V&& v) {
    v("k", s.k);
    v("kappa", s.kappa);
    v("concatenate_layers", s.concatenate_layers);
    v("sigma", s.sigma);
  }
};

}  // namespace vigil::spade
