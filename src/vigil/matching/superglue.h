// SuperGlue (Sarlin et al., CVPR 2020), as released by the authors
// (magicleap/SuperGluePretrainedNetwork, models/superglue.py).
//
// Reads the authors' state_dicts (superglue_indoor.pth / superglue_outdoor.pth, legacy format) or
// any checkpoint with the same key names. The descriptor size, the keypoint-encoder widths and
// the number of GNN layers come from the checkpoint; layers alternate self, cross, self, ... as in
// every released model, with 4 attention heads (fixed in the reference code, not stored).
// Keypoints are normalised by the image size of each Features (image_width/height) as the
// reference does: (p - size/2) / (0.7 max(w, h)).
#pragma once

#include <memory>
#include <vector>

#include "vigil/io/torch_checkpoint.h"
#include "vigil/matching/matcher.h"
#include "vigil/matching/superglue_options.h"

namespace vigil {

std::unique_ptr<Matcher> CreateSuperGlueMatcher(const MatcherOptions& options);

// Everything SuperGlue computes for one pair, for tests and diagnostics.
struct SuperGlueOutput {
  Matches matches;                    // thresholded; confidence = matching score, in [0, 1]
  std::vector<float> scores0;         // reference matching_scores0 (mutual, before threshold)
  std::vector<float> scores1;         // reference matching_scores1
  std::vector<float> log_assignment;  // (N0 + 1) x (N1 + 1) row-major, last row/col = dustbins
};

// The network with its weights loaded; Run is const and may be called for many pairs.
class SuperGlueNetwork {
 public:
  // `weights`: a SuperGlue state_dict. Throws vigil::Error naming the file and key when a tensor
  // is missing or has the wrong shape.
  SuperGlueNetwork(const io::StateDict& weights, const SuperGlueOptions& options, int num_threads);
  ~SuperGlueNetwork();
  SuperGlueOutput Run(const Features& features0, const Features& features1) const;

  int descriptor_dim() const;
  int num_layers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
