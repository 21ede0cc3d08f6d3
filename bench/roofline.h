// The machine's practical ceiling for the networks vigil runs: single-precision GEMM through
// OpenBLAS, measured in the same run as the benchmark so the ratio holds on a noisy machine.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

namespace vigil::bench {

// Median GFLOP/s of `repeats` n x n x n sgemm calls with the current OpenBLAS thread count.
inline double MeasureSgemmGflops(int n = 2048, int repeats = 3) {
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (auto& v : a) v = uniform(rng);
  for (auto& v : b) v = uniform(rng);
  std::vector<double> gflops;
  for (int r = 0; r < repeats + 1; ++r) {  // first call warms up
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n,
                0.f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) gflops.push_back(2.0 * n * n * n / s * 1e-9);
  }
  std::sort(gflops.begin(), gflops.end());
  return gflops[gflops.size() / 2];
}

// Peak resident set size of this process so far, in MiB (Linux: VmHWM from /proc/self/status).
double PeakRssMiB();

}  // namespace vigil::bench

#include <fstream>
#include <string>

inline double vigil::bench::PeakRssMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0.0;
}
