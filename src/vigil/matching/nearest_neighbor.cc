#include "vigil/matching/nearest_neighbor.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil {
namespace {

// Rows of image 0 processed per GEMM block: bounds the similarity buffer to kBlock x N1 floats.
constexpr int kBlock = 1024;

struct Candidate {
  int best = -1;
  float best_similarity = -std::numeric_limits<float>::infinity();
  float second_similarity = -std::numeric_limits<float>::infinity();
};

// Records similarity s between row i (image 0) and column j (image 1): the row keeps its two
// best, the column its best (for the mutual check).
inline void Consider(float s, int i, int j, Candidate& row, Candidate& col) {
  if (s > row.best_similarity) {
    row.second_similarity = row.best_similarity;
    row.best_similarity = s;
    row.best = j;
  } else if (s > row.second_similarity) {
    row.second_similarity = s;
  }
  if (s > col.best_similarity) {
    col.best_similarity = s;
    col.best = i;
  }
}

DescriptorMatrix L2Normalized(const DescriptorMatrix& d) {
  DescriptorMatrix out = d;
  for (int i = 0; i < out.rows(); ++i) {
    const float norm = out.row(i).norm();
    if (norm > 0) out.row(i) /= norm;
  }
  return out;
}

// For each row of d0 its two most similar rows of d1, and for each row of d1 its most similar row
// of d0 (for the mutual check). Similarities are cosine similarities of L2-normalised rows,
// computed as one sgemm per block of rows (the exact dot products; no approximate search).
void FloatCandidates(const DescriptorMatrix& d0, const DescriptorMatrix& d1,
                     std::vector<Candidate>* rows, std::vector<Candidate>* cols) {
  const int n0 = static_cast<int>(d0.rows()), n1 = static_cast<int>(d1.rows());
  const int dim = static_cast<int>(d0.cols());
  std::vector<float> block(static_cast<size_t>(std::min(n0, kBlock)) * n1);
  for (int start = 0; start < n0; start += kBlock) {
    const int rows_in_block = std::min(kBlock, n0 - start);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows_in_block, n1, dim, 1.f,
                d0.data() + static_cast<size_t>(start) * dim, dim, d1.data(), dim, 0.f,
                block.data(), n1);
    for (int r = 0; r < rows_in_block; ++r) {
      const float* sim = block.data() + static_cast<size_t>(r) * n1;
      Candidate& row = (*rows)[start + r];
      for (int j = 0; j < n1; ++j) Consider(sim[j], start + r, j, row, (*cols)[j]);
    }
  }
}

// Hamming distances on packed bytes, as "similarity" = bits - distance so the same
// best/second-best bookkeeping applies.
void BinaryCandidates(const BinaryDescriptorMatrix& d0, const BinaryDescriptorMatrix& d1,
                      std::vector<Candidate>* rows, std::vector<Candidate>* cols) {
  const int bytes = static_cast<int>(d0.cols());
  const int bits = bytes * 8;
  for (int i = 0; i < d0.rows(); ++i) {
    const uint8_t* a = d0.data() + static_cast<size_t>(i) * bytes;
    for (int j = 0; j < d1.rows(); ++j) {
      const uint8_t* b = d1.data() + static_cast<size_t>(j) * bytes;
      int distance = 0;
      int k = 0;
      for (; k + 8 <= bytes; k += 8) {
        uint64_t x, y;
        std::memcpy(&x, a + k, 8);
        std::memcpy(&y, b + k, 8);
        distance += __builtin_popcountll(x ^ y);
      }
      for (; k < bytes; ++k) distance += __builtin_popcount(a[k] ^ b[k]);
      Consider(static_cast<float>(bits - distance), i, j, (*rows)[i], (*cols)[j]);
    }
  }
}

class NearestNeighborMatcher : public Matcher {
 public:
  explicit NearestNeighborMatcher(const MatcherOptions& options) : options_(options) {}
  Matches Match(const Features& f0, const Features& f1) override {
    SetBlasThreads(options_.num_threads);
    return MatchNearestNeighbors(f0, f1, options_.nn);
  }
  std::string name() const override { return "nn"; }

 private:
  MatcherOptions options_;
};

}  // namespace

Matches MatchNearestNeighbors(const Features& f0, const Features& f1,
                              const NearestNeighborOptions& options) {
  options.Check();
  const auto start = std::chrono::steady_clock::now();
  const int n0 = f0.size(), n1 = f1.size();
  Matches result;
  result.matches0.assign(n0, -1);
  result.confidence0.assign(n0, 0.f);
  if (n0 > 0 && n1 > 0) {
    VIGIL_CHECK(f0.is_binary() == f1.is_binary() && f0.descriptor_dim() == f1.descriptor_dim(),
                "nn matcher: descriptors differ between the images ({} {}-d vs {} {}-d)",
                f0.is_binary() ? "binary" : "float", f0.descriptor_dim(),
                f1.is_binary() ? "binary" : "float", f1.descriptor_dim());
    std::vector<Candidate> rows(n0), cols(n1);
    const bool binary = f0.is_binary();
    if (binary) {
      BinaryCandidates(f0.binary_descriptors, f1.binary_descriptors, &rows, &cols);
    } else {
      FloatCandidates(L2Normalized(f0.descriptors), L2Normalized(f1.descriptors), &rows, &cols);
    }
    const float bits = binary ? 8.f * f0.descriptor_dim() : 0.f;
    // Distance from similarity: Euclidean between unit vectors, or Hamming.
    auto distance = [&](float s) {
      return binary ? bits - s : std::sqrt(std::max(0.f, 2.f - 2.f * s));
    };
    for (int i = 0; i < n0; ++i) {
      const Candidate& c = rows[i];
      if (c.best < 0) continue;
      if (options.mutual && cols[c.best].best != i) continue;
      if (options.ratio < 1.f && n1 > 1 &&
          !(distance(c.best_similarity) < options.ratio * distance(c.second_similarity))) {
        continue;
      }
      const float confidence =
          binary ? c.best_similarity / bits : std::clamp(c.best_similarity, 0.f, 1.f);
      if (!(confidence > options.threshold)) continue;
      result.matches0[i] = c.best;
      result.confidence0[i] = confidence;
    }
  }
  FillReverseMatches(n1, &result);
  result.timings_ms["match"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void NearestNeighborOptions::Check() const {
  VIGIL_CHECK_OPTION(threshold >= 0 && threshold < 1, "threshold", "must be in [0, 1)");
  VIGIL_CHECK_OPTION(ratio > 0 && ratio <= 1, "ratio", "must be in (0, 1]");
}

std::unique_ptr<Matcher> CreateNearestNeighborMatcher(const MatcherOptions& options) {
  return std::make_unique<NearestNeighborMatcher>(options);
}

}  // namespace vigil
