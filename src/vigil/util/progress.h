// Progress reporting and cooperative interruption for long jobs (calibration sweeps, memory-bank
// fitting, dataset evaluation). The library never installs signal handlers: the caller (the CLI)
// owns a CancelToken, sets it from SIGINT, and passes it in; loops call ThrowIfCancelled()
// between items so that no output file is left half-written.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace vigil {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true); }
  bool IsCancelled() const { return cancelled_.load(); }
  // Throws vigil::Cancelled when Cancel() was called.
  void ThrowIfCancelled() const;

 private:
  std::atomic<bool> cancelled_{false};
};

// A one-line progress bar on stderr ("label [=====>    ] 12/24 3.1 s"); redrawn in place on a
// terminal, printed every ~10% otherwise (logs stay readable). Quiet when disabled.
class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total, bool enabled = true, std::FILE* stream = stderr);
  ~ProgressBar();
  void Advance(size_t steps = 1);
  void Finish();

 private:
  void Draw(bool final_line);

  std::string label_;
  size_t total_;
  size_t done_ = 0;
  bool enabled_;
  bool is_tty_;
  bool finished_ = false;
  int last_decile_ = -1;
  std::FILE* stream_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace vigil
