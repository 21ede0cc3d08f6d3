// Greedy k-center coreset selection (Sener & Savarese, ICLR 2018), the memory-bank subsampling
// of PatchCore (Roth et al., CVPR 2022, sec. 3.2): start from one seeded random point, then
// repeatedly add the point farthest from everything selected so far. As in the paper, the
// distances may be taken in a random linear projection (Johnson-Lindenstrauss) to cut the cost;
// the selected indices refer to the original features. The result is a 2-approximation of the
// optimal k-center covering radius in the space the distances are computed in.
#pragma once

#include <cstdint>
#include <vector>

#include "vigil/util/progress.h"

namespace vigil::spade {

struct CoresetOptions {
  int projection_dim = 128;    // Gaussian random projection size; 0 or >= dim: exact distances
  uint64_t seed = 0;           // start point and projection matrix
  int num_threads = 2;         // OpenBLAS threads for the projection
  bool show_progress = false;  // progress bar on stderr (the selection can take a minute)
};

// Indices (into the n rows of `features`, n x dim row-major) of `count` selected points, in
// selection order. `cancel` may be null.
std::vector<int64_t> GreedyCoreset(const float* features, int64_t n, int dim, int64_t count,
                                   const CoresetOptions& options,
                                   const CancelToken* cancel = nullptr);

// max over all points of the distance to the nearest selected point (the k-center objective).
double CoveringRadius(const float* features, int64_t n, int dim,
                      const std::vector<int64_t>& selected);

}  // namespace vigil::spade
