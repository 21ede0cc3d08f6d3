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

}  // namespace vigil::nn
