#include "vigil/report/calibration_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

// ---------------------------------------------------------------------------------------------
// Plot (paper Fig. 5): mean curve, min-max band, knee.

namespace {

void PutText(cv::Mat& canvas, const std::string& text, cv::Point origin, double scale,
             const cv::Scalar& colour, int thickness = 1) {
  cv::putText(canvas, text, origin, cv::FONT_HERSHEY_SIMPLEX, scale, colour, thickness,
              cv::LINE_AA);
}

cv::Size TextSize(const std::string& text, double scale, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
}

void DashedVerticalLine(cv::Mat& canvas, int x, int top, int bottom, const cv::Scalar& colour) {
  for (int y = top; y < bottom; y += 12) {
    cv::line(canvas, {x, y}, {x, std::min(bottom, y + 6)}, colour, 2, cv::LINE_AA);
  }
}

}  // namespace

cv::Mat RenderCalibrationPlot(const CalibrationResult& result, int width, int height) {
  VIGIL_CHECK(width >= 300 && height >= 200, "calibration plot: size {} x {} is too small", width,
              height);
  const cv::Scalar kBlack(0, 0, 0), kGrey(150, 150, 150), kLightGrey(225, 225, 225);
  const cv::Scalar kBlue(180, 100, 30), kBand(235, 200, 160), kRed(40, 40, 220);
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 110, right = 30, top = 60, bottom = 75;
  const cv::Rect plot(left, top, width - left - right, height - top - bottom);

  const std::string title =
      fmt::format("Self-calibration{}{}: {} pair(s)", result.extractor.empty() ? "" : " ",
                  result.extractor.empty() && result.matcher.empty()
                      ? ""
                      : result.extractor + (result.matcher.empty() ? "" : " + " + result.matcher),
                  result.pairs.size());
  PutText(canvas, title, {left, 28}, 0.65, kBlack, 1);

  // Data range.
  double x_lo = 0, x_hi = 1;
  if (!result.thresholds.empty()) {
    x_lo = result.thresholds.front();
    x_hi = result.thresholds.back();
    if (x_hi <= x_lo) x_hi = x_lo + 0.1;
  }
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
  for (size_t i = 0; i < result.thresholds.size() && i < result.mean_curve.size(); ++i) {
    for (double v : {result.mean_curve[i], i < result.min_curve.size() ? result.min_curve[i] : kNaN,
                     i < result.max_curve.size() ? result.max_curve[i] : kNaN}) {
      if (std::isfinite(v)) {
        y_lo = std::min(y_lo, v);
        y_hi = std::max(y_hi, v);
      }
    }
  }
  const bool has_data = std::isfinite(y_lo);
  if (!has_data) {
    y_lo = 0;
    y_hi = 1;
  }
  if (y_hi - y_lo <= 0) {
    const double pad = y_hi != 0 ? std::abs(y_hi) * 0.1 : 1.0;
    y_lo -= pad;
    y_hi += pad;
  }
  const double y_pad = 0.05 * (y_hi - y_lo);
  // cv/m is never negative: do not pad the axis below 0.
  y_lo = y_lo >= 0 ? std::max(0.0, y_lo - y_pad) : y_lo - y_pad;
  y_hi += y_pad;
  const double x_pad = 0.03 * (x_hi - x_lo);
  x_lo -= x_pad;
  x_hi += x_pad;
  const auto px = [&](double x) {
    return static_cast<int>(std::lround(plot.x + (x - x_lo) / (x_hi - x_lo) * plot.width));
  };
  const auto py = [&](double y) {
    return static_cast<int>(
        std::lround(plot.y + plot.height - (y - y_lo) / (y_hi - y_lo) * plot.height));
  };

  // Grid, ticks and tick labels.
  for (size_t i = 0; i < result.thresholds.size(); ++i) {
    const int x = px(result.thresholds[i]);
    cv::line(canvas, {x, plot.y}, {x, plot.y + plot.height}, kLightGrey, 1);
    const std::string label = fmt::format("{:.2g}", result.thresholds[i]);
    const cv::Size size = TextSize(label, 0.45);
    if (result.thresholds.size() <= 20 || i % ((result.thresholds.size() + 19) / 20) == 0) {
      PutText(canvas, label, {x - size.width / 2, plot.y + plot.height + 22}, 0.45, kBlack);
    }
  }
  for (int i = 0; i <= 5; ++i) {
    const double value = y_lo + (y_hi - y_lo) * i / 5.0;
    const int y = py(value);
    cv::line(canvas, {plot.x, y}, {plot.x + plot.width, y}, kLightGrey, 1);
    const std::string label = fmt::format("{:.2e}", value);
    const cv::Size size = TextSize(label, 0.42);
    PutText(canvas, label, {plot.x - size.width - 8, y + size.height / 2}, 0.42, kBlack);
  }
  cv::rectangle(canvas, plot, kBlack, 1);

  // Axis labels; the y label is drawn horizontally into a strip and rotated.
  const std::string x_label = "matching threshold";
  const cv::Size xs = TextSize(x_label, 0.55);
  PutText(canvas, x_label, {plot.x + (plot.width - xs.width) / 2, height - 18}, 0.55, kBlack);
  {
    const std::string y_label = "mean cv / matched points";
    const cv::Size ys = TextSize(y_label, 0.55);
    cv::Mat strip(ys.height + 10, ys.width + 10, CV_8UC3, cv::Scalar(255, 255, 255));
    PutText(strip, y_label, {5, ys.height + 3}, 0.55, kBlack);
    cv::Mat rotated;
    cv::rotate(strip, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int x = 8;
    const int y = std::max(0, plot.y + (plot.height - rotated.rows) / 2);
    if (y + rotated.rows <= height && x + rotated.cols <= width) {
      rotated.copyTo(canvas(cv::Rect(x, y, rotated.cols, rotated.rows)));
    }
  }

  if (!has_data) {
    PutText(canvas, "no threshold has enough matches", {plot.x + 20, plot.y + plot.height / 2}, 0.6,
            kRed);
  } else {
    // Min-max band over runs of consecutive valid thresholds, blended under the curve.
    cv::Mat band = canvas.clone();
    const size_t n = std::min({result.thresholds.size(), result.min_curve.size(),
                               result.max_curve.size(), result.mean_curve.size()});
    size_t i = 0;
    while (i < n) {
      if (!std::isfinite(result.mean_curve[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && std::isfinite(result.mean_curve[j])) ++j;
      std::vector<cv::Point> polygon;
      for (size_t k = i; k < j; ++k)
        polygon.push_back({px(result.thresholds[k]), py(result.max_curve[k])});
      for (size_t k = j; k-- > i;)
        polygon.push_back({px(result.thresholds[k]), py(result.min_curve[k])});
      if (polygon.size() >= 3) {
        cv::fillPoly(band, std::vector<std::vector<cv::Point>>{polygon}, kBand, cv::LINE_AA);
      } else {
        cv::line(band, polygon[0], polygon[1], kBand, 3, cv::LINE_AA);
      }
      i = j;
    }
    cv::Mat blended;
    cv::addWeighted(band, 0.55, canvas, 0.45, 0, blended);
    canvas = blended;  // the grid shows through the band; the curve is drawn on top
    for (size_t k = 0; k < n; ++k) {
      if (!std::isfinite(result.mean_curve[k])) continue;
      if (k > 0 && std::isfinite(result.mean_curve[k - 1])) {
        cv::line(canvas, {px(result.thresholds[k - 1]), py(result.mean_curve[k - 1])},
                 {px(result.thresholds[k]), py(result.mean_curve[k])}, kBlue, 2, cv::LINE_AA);
      }
      cv::circle(canvas, {px(result.thresholds[k]), py(result.mean_curve[k])}, 4, kBlue, -1,
                 cv::LINE_AA);
    }
  }

  // The chosen threshold: the knee, or the fallback.
  const int kx = px(result.threshold);
  if (kx >= plot.x && kx <= plot.x + plot.width) {
    DashedVerticalLine(canvas, kx, plot.y, plot.y + plot.height, result.from_knee ? kRed : kGrey);
    if (result.from_knee && result.knee_value && has_data) {
      cv::circle(canvas, {kx, py(*result.knee_value)}, 8, kRed, 2, cv::LINE_AA);
    }
  }
  const std::string legend =
      result.from_knee ? fmt::format("knee: threshold = {:.3g}", result.threshold)
                       : fmt::format("no knee: fallback threshold = {:.3g}", result.threshold);
  const cv::Size ls = TextSize(legend, 0.55);
  PutText(canvas, legend, {plot.x + plot.width - ls.width - 10, plot.y - 10}, 0.55,
          result.from_knee ? kRed : kGrey, 1);
  // Legend for curve and band.
  const cv::Point legend_origin(plot.x + 12, plot.y + 20);
  cv::line(canvas, legend_origin, legend_origin + cv::Point(28, 0), kBlue, 2, cv::LINE_AA);
  PutText(canvas, "mean over pairs", legend_origin + cv::Point(36, 5), 0.45, kBlack);
  cv::rectangle(canvas, cv::Rect(legend_origin.x, legend_origin.y + 12, 28, 12), kBand, -1);
  PutText(canvas, "min-max over pairs", legend_origin + cv::Point(36, 23), 0.45, kBlack);
  return canvas;
}

void WriteCalibrationPlot(const std::filesystem::path& path, const CalibrationResult& result) {
  io::WriteImage(path, RenderCalibrationPlot(result));
}

}  // namespace vigil
