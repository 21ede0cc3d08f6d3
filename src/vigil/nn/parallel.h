// A minimal parallel loop for the nn operators: no pool, no global state. Threads are started per
// call, which costs tens of microseconds, negligible against the layers it is used for (each
// call splits at least a few milliseconds of work). The thread count is OpenBLAS's (gemm.h:
// SetNumThreads), so one setting governs the GEMMs and the loops around them.
#pragma once

#include <cstdint>
#include <functional>

namespace vigil::nn {

// Runs fn(begin, end) on `threads` contiguous slices of [0, n) (at most n slices), the first
// in the calling thread. Rethrows the first exception a slice threw after all have finished.
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn);

// The thread count worth using for `work` elementary operations: starting a thread costs about
// as much as ~50k simple operations, so small jobs stay on the calling thread.
inline int ThreadsFor(int64_t work, int threads) {
  return work < (int64_t{1} << 18) ? 1 : threads;
}

// Hands out the items [0, n) dynamically: min(threads, n) workers (the first in the calling
// thread) each run worker(next), where next() returns an unclaimed item or -1 when none is left.
// A worker sets up its scratch buffers once and loops; a worker that the OS preempts (a busy
// machine) then simply takes fewer items instead of holding the others up.
using NextItem = std::function<int64_t()>;
void ParallelWorkers(int64_t n, int threads, const std::function<void(const NextItem&)>& worker);

// ParallelWorkers over bands of a layer whose workers call GEMMs. With `threads` > 1 and at
// least `min_bands` bands, `threads` workers share the bands, each running single-threaded
// GEMMs (OpenBLAS's own threads would oversubscribe the cores); otherwise one worker takes every
// band and OpenBLAS threads each GEMM. OpenBLAS's thread count is restored afterwards, also when
// a worker throws.
void ParallelBandsWithSerialGemm(int64_t num_bands, int threads, int64_t min_bands,
                                 const std::function<void(const NextItem&)>& worker);

}  // namespace vigil::nn
