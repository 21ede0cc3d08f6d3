#include "vigil/nn/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "vigil/nn/gemm.h"

namespace vigil::nn {

void ParallelFor(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t slices = std::clamp<int64_t>(threads, 1, n);
  if (slices == 1) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int64_t s) {
    try {
      fn(n * s / slices, n * (s + 1) / slices);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (int64_t s = 1; s < slices; ++s) workers.emplace_back(run, s);
  run(0);
  for (auto& w : workers) w.join();
  if (error) std::rethrow_exception(error);
}

void ParallelWorkers(int64_t n, int threads, const std::function<void(const NextItem&)>& worker) {
  if (n <= 0) return;
  std::atomic<int64_t> counter{0};
  const NextItem next = [&]() -> int64_t {
    const int64_t i = counter.fetch_add(1, std::memory_order_relaxed);
    return i < n ? i : -1;
  };
  ParallelFor(std::clamp<int64_t>(threads, 1, n), threads,
              [&](int64_t begin, int64_t end) {
                for (int64_t w = begin; w < end; ++w) worker(next);
              });
}

void ParallelBandsWithSerialGemm(int64_t num_bands, int threads, int64_t min_bands,
                                 const std::function<void(const NextItem&)>& worker) {
  if (threads <= 1 || num_bands < min_bands) {
    ParallelWorkers(num_bands, 1, worker);
    return;
  }
  struct RestoreGemmThreads {
    int threads;
    ~RestoreGemmThreads() { SetNumThreads(threads); }
  } restore{threads};
  SetNumThreads(1);
  ParallelWorkers(num_bands, threads, worker);
}

}  // namespace vigil::nn
