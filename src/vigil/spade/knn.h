// Exact k-nearest-neighbour search under the Euclidean distance, as blocked GEMMs:
// ||q - g||^2 = ||q||^2 + ||g||^2 - 2 q.g, with q.g for a block of queries x a block of gallery
// rows from one OpenBLAS sgemm. Memory stays bounded by query_block x gallery_block floats; the
// full query x gallery distance matrix is never materialised. The distances returned for the
// selected neighbours are recomputed directly from the two vectors, so they carry no GEMM
// cancellation error (which matters for near-zero distances).
#pragma once

#include <cstdint>
#include <vector>

namespace vigil::spade {

struct KnnOptions {
  int query_block = 256;     // queries per GEMM block (256 x 1024 distances = 1 MiB: stays in L2)
  int gallery_block = 1024;  // gallery rows per GEMM block
  int num_threads = 2;       // worker threads, each over its own query blocks
  void Check() const;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("query_block", s.query_block);
    v("gallery_block", s.gallery_block);
    v("num_threads", s.num_threads);
  }
};

// Row-major results: for query i, neighbours i*k .. i*k+k-1, nearest first.
struct KnnResult {
  int k = 0;
  std::vector<float> distances;
  std::vector<int32_t> indices;
};

// query: nq x dim, gallery: ng x dim, both row-major. Requires 1 <= k <= ng.
KnnResult ExactKnn(const float* query, int64_t nq, const float* gallery, int64_t ng, int dim, int k,
                   const KnnOptions& options);

// The plain per-query loop the GEMM version is tested and benchmarked against.
KnnResult NaiveKnn(const float* query, int64_t nq, const float* gallery, int64_t ng, int dim,
                   int k);

// Direct Euclidean distance of two dim-vectors (double accumulation).
float L2Distance(const float* a, const float* b, int dim);

}  // namespace vigil::spade
