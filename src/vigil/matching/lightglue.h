// LightGlue (Lindenberger, Sarlin, Pollefeys, ICCV 2023), as released by the authors
// (cvg/LightGlue, lightglue/lightglue.py, the "v0.1_arxiv" models).
//
// Reads the authors' state_dicts (superpoint_lightglue.pth, disk/aliked_lightglue.pth) with
// either key naming: `self_attn.i.*` / `cross_attn.i.*` (v0.1_arxiv) or
// `transformers.i.self_attn.*` / `transformers.i.cross_attn.*` (later releases); a leading
// "matcher." is dropped. The number of layers, the input descriptor size (input_proj, or the
// model width when there is none) and the number of heads (model width / 2 x posenc rows) come
// from the checkpoint. Keypoints are normalised by each Features' image size:
// (p - size/2) / (max(w, h)/2). Adaptive inference follows the reference on CPU: early exit when
// more than depth_confidence of the tokens are confident, point pruning from the first layer on
// whenever width_confidence is on (the reference's CPU pruning threshold is -1 keypoints).
#pragma once

#include <memory>
#include <vector>

#include "vigil/io/torch_checkpoint.h"
#include "vigil/matching/lightglue_options.h"
#include "vigil/matching/matcher.h"

namespace vigil {

std::unique_ptr<Matcher> CreateLightGlueMatcher(const MatcherOptions& options);

// Everything LightGlue computes for one pair, for tests and diagnostics.
struct LightGlueOutput {
  Matches matches;                    // thresholded; confidence = matching score, in [0, 1]
  std::vector<float> scores0;         // reference matching_scores0 (mutual, before threshold)
  std::vector<float> scores1;         // reference matching_scores1
  // (K0 + 1) x (K1 + 1) row-major log assignment of the keypoints kept after pruning (all of
  // them when pruning is off), last row/column = log "unmatchable".
  std::vector<float> log_assignment;
  int stop = 0;                       // number of layers run (reference "stop")
  std::vector<int> prune0, prune1;    // per keypoint: layer index at which it was pruned + 1
                                      // (reference prune0/1; empty when pruning is off)
};

// The network with its weights loaded; Run is const and may be called for many pairs.
class LightGlueNetwork {
 public:
  LightGlueNetwork(const io::StateDict& weights, const LightGlueOptions& options, int num_threads);
  ~LightGlueNetwork();
  LightGlueOutput Run(const Features& features0, const Features& features1) const;

  int input_dim() const;
  int descriptor_dim() const;
  int num_layers() const;
  int num_heads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
