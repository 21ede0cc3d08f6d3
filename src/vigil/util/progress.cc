#include "vigil/util/progress.h"

#include <unistd.h>

#include <algorithm>

#include "vigil/util/check.h"

namespace vigil {

void CancelToken::ThrowIfCancelled() const {
  if (IsCancelled()) throw Cancelled();
}

ProgressBar::ProgressBar(std::string label, size_t total, bool enabled, std::FILE* stream)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      is_tty_(::isatty(::fileno(stream)) != 0),
      stream_(stream),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) Draw(false);
}

ProgressBar::~ProgressBar() {
  if (!finished_ && enabled_ && is_tty_) std::fputc('\n', stream_);
}

void ProgressBar::Advance(size_t steps) {
  done_ = std::min(total_, done_ + steps);
  if (enabled_) Draw(false);
}

void ProgressBar::Finish() {
  if (finished_) return;
  done_ = total_;
  if (enabled_) Draw(true);
  finished_ = true;
}

void ProgressBar::Draw(bool final_line) {
  const double fraction = total_ == 0 ? 1.0 : static_cast<double>(done_) / total_;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!is_tty_) {
    const int decile = static_cast<int>(fraction * 10);
    if (decile == last_decile_ && !final_line) return;
    last_decile_ = decile;
    std::fprintf(stream_, "%s %zu/%zu (%.1f s)\n", label_.c_str(), done_, total_, seconds);
    return;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(kWidth, ' ');
  std::fill(bar.begin(), bar.begin() + filled, '=');
  if (filled < kWidth) bar[filled] = '>';
  std::fprintf(stream_, "\r%s [%s] %zu/%zu %.1f s%s", label_.c_str(), bar.c_str(), done_, total_,
               seconds, final_line ? "\n" : "");
  std::fflush(stream_);
}

}  // namespace vigil
