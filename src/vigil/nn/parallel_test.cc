#include "vigil/nn/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "vigil/nn/gemm.h"

namespace vigil::nn {
namespace {

TEST(ParallelFor, CoversEveryIndexOnceWithContiguousSlices) {
  for (int threads : {1, 2, 3, 8}) {
    std::vector<std::atomic<int>> hits(10);
    ParallelFor(10, threads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i]++;
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1) << threads << " threads";
  }
  bool called = false;
  ParallelFor(0, 2, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ParallelFor, RethrowsAfterAllSlicesFinish) {
  std::atomic<int> finished{0};
  EXPECT_THROW(ParallelFor(4, 4,
                           [&](int64_t begin, int64_t) {
                             if (begin == 2) throw std::runtime_error("slice 2");
                             finished++;
                           }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 3);
}

TEST(ParallelWorkers, HandsOutEachItemOnce) {
  for (int threads : {1, 2, 5}) {
    std::vector<std::atomic<int>> hits(37);
    std::atomic<int> workers{0};
    ParallelWorkers(37, threads, [&](const NextItem& next) {
      workers++;
      for (int64_t i; (i = next()) >= 0;) hits[i]++;
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1) << threads << " threads";
    EXPECT_EQ(workers.load(), threads);
  }
  std::atomic<int> workers{0};
  ParallelWorkers(2, 8, [&](const NextItem&) { workers++; });  // never more workers than items
  EXPECT_EQ(workers.load(), 2);
}

TEST(ParallelBandsWithSerialGemm, SharesBandsWithSingleThreadedGemmsAndRestores) {
  const int before = NumThreads();
  SetNumThreads(2);
  // Enough bands: two workers, each seeing single-threaded GEMMs.
  std::atomic<int> workers{0}, serial_gemm{0}, bands{0};
  ParallelBandsWithSerialGemm(6, 2, 4, [&](const NextItem& next) {
    workers++;
    serial_gemm += NumThreads() == 1;
    while (next() >= 0) bands++;
  });
  EXPECT_EQ(workers.load(), 2);
  EXPECT_EQ(serial_gemm.load(), 2);
  EXPECT_EQ(bands.load(), 6);
  EXPECT_EQ(NumThreads(), 2);
  // Too few bands: one worker, OpenBLAS keeps its threads.
  workers = 0;
  ParallelBandsWithSerialGemm(3, 2, 4, [&](const NextItem& next) {
    workers++;
    EXPECT_EQ(NumThreads(), 2);
    while (next() >= 0) {
    }
  });
  EXPECT_EQ(workers.load(), 1);
  // A throwing worker still gets the thread count restored.
  EXPECT_THROW(ParallelBandsWithSerialGemm(6, 2, 4,
                                           [](const NextItem&) { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_EQ(NumThreads(), 2);
  SetNumThreads(before);
}

}  // namespace
}  // namespace vigil::nn
