#include "vigil/kneedle/kneedle.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "vigil/util/check.h"

namespace vigil {
namespace {

void CheckInput(const std::vector<double>& x, const std::vector<double>& y) {
  VIGIL_CHECK(x.size() == y.size(), "Kneedle: x has {} values but y has {}", x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    VIGIL_CHECK(std::isfinite(x[i]), "Kneedle: x[{}] is not finite ({})", i, x[i]);
    VIGIL_CHECK(std::isfinite(y[i]), "Kneedle: y[{}] is not finite ({})", i, y[i]);
    if (i > 0) {
      VIGIL_CHECK(x[i] > x[i - 1],
                  "Kneedle: x must be strictly increasing (x[{}] = {} follows x[{}] = {})", i, x[i],
                  i - 1, x[i - 1]);
    }
  }
}

// Least-squares polynomial of `degree` evaluated at x (numpy polyfit + poly1d). x is centred and
// scaled first, which changes the conditioning but not the fitted values.
std::vector<double> PolynomialSmooth(const std::vector<double>& x, const std::vector<double>& y,
                                     int degree) {
  const int n = static_cast<int>(x.size());
  degree = std::min(degree, n - 1);
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  double scale = 0;
  for (double v : x) scale = std::max(scale, std::abs(v - mean));
  if (scale == 0) scale = 1;
  Eigen::MatrixXd vandermonde(n, degree + 1);
  Eigen::VectorXd rhs(n);
  for (int i = 0; i < n; ++i) {
    const double u = (x[i] - mean) / scale;
    double power = 1;
    for (int d = 0; d <= degree; ++d) {
      vandermonde(i, d) = power;
      power *= u;
    }
    rhs(i) = y[i];
  }
  const Eigen::VectorXd coefficients = vandermonde.colPivHouseholderQr().solve(rhs);
  const Eigen::VectorXd fitted = vandermonde * coefficients;
  return std::vector<double>(fitted.data(), fitted.data() + n);
}

// Min-max normalisation; returns false when the values are all equal.
bool Normalize(const std::vector<double>& values, std::vector<double>* out) {
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  const double range = *hi - *lo;
  out->resize(values.size());
  if (!(range > 0)) return false;
  for (size_t i = 0; i < values.size(); ++i) (*out)[i] = (values[i] - *lo) / range;
  return true;
}

}  // namespace

void KneedleOptions::Check() const {
  VIGIL_CHECK_OPTION(std::isfinite(sensitivity) && sensitivity >= 0, "kneedle.sensitivity",
                     "must be finite and >= 0");
  VIGIL_CHECK_OPTION(polynomial_degree >= 1, "kneedle.polynomial_degree", "must be >= 1");
}

KneedleResult FindKnee(const std::vector<double>& x, const std::vector<double>& y,
                       const KneedleOptions& options) {
  options.Check();
  CheckInput(x, y);
  KneedleResult result;
  const size_t n = x.size();
  if (n < 3) {
    result.no_knee_reason = fmt::format("a knee needs at least 3 points, got {}", n);
    return result;
  }

  // Steps 1-2: smooth, normalise.
  const std::vector<double> smoothed =
      options.polynomial_fit ? PolynomialSmooth(x, y, options.polynomial_degree) : y;
  Normalize(x, &result.x_normalized);  // x strictly increasing: range > 0
  if (!Normalize(smoothed, &result.y_normalized)) {
    result.no_knee_reason = "the curve is flat (all y values equal)";
    result.y_normalized.assign(n, 0.0);
    return result;
  }

  // Step 3: turn the curve into a concave increasing one, then the difference curve.
  const bool convex = options.curve == KneeCurve::kConvex;
  const bool decreasing = options.direction == KneeDirection::kDecreasing;
  std::vector<double> transformed = result.y_normalized;
  const double y_max = *std::max_element(transformed.begin(), transformed.end());
  if (convex) {
    for (double& v : transformed) v = y_max - v;
  }
  // Reversal maps index i of the transformed curve to n - 1 - i of the input.
  const bool reversed = convex != decreasing;
  if (reversed) std::reverse(transformed.begin(), transformed.end());
  result.y_difference.resize(n);
  for (size_t i = 0; i < n; ++i) result.y_difference[i] = transformed[i] - result.x_normalized[i];
  const std::vector<double>& yd = result.y_difference;

  // Step 4: local extrema with clipped ends (scipy argrelextrema, greater_equal / less_equal).
  std::vector<bool> is_max(n), is_min(n);
  for (size_t i = 0; i < n; ++i) {
    const double left = yd[i == 0 ? 0 : i - 1];
    const double right = yd[i + 1 == n ? i : i + 1];
    is_max[i] = yd[i] >= left && yd[i] >= right;
    is_min[i] = yd[i] <= left && yd[i] <= right;
    if (is_max[i]) result.maxima_indices.push_back(i);
    if (is_min[i]) result.minima_indices.push_back(i);
  }
  if (result.maxima_indices.empty()) {
    result.no_knee_reason = "the difference curve has no local maximum";
    return result;
  }

  // Step 5: one threshold per maximum; kneed uses |mean(diff(x_normalized))|.
  const double mean_step = std::abs((result.x_normalized.back() - result.x_normalized.front()) /
                                    static_cast<double>(n - 1));
  for (size_t index : result.maxima_indices) {
    result.maxima_thresholds.push_back(yd[index] - options.sensitivity * mean_step);
  }

  // Step 6: walk the difference curve from the first maximum.
  size_t next_threshold = 0;
  double threshold = 0;
  size_t threshold_index = 0;
  for (size_t i = result.maxima_indices.front(); i + 1 < n; ++i) {
    if (is_max[i]) {
      threshold = result.maxima_thresholds[next_threshold++];
      threshold_index = i;
    }
    if (is_min[i]) threshold = 0.0;
    if (!(yd[i + 1] < threshold)) continue;
    const size_t index = reversed ? n - 1 - threshold_index : threshold_index;
    Knee knee;
    knee.index = index;
    knee.x = x[index];
    knee.y = y[index];
    knee.x_normalized = result.x_normalized[index];
    knee.y_normalized = result.y_normalized[index];
    const bool seen = std::any_of(result.all_knees.begin(), result.all_knees.end(),
                                  [&](const Knee& k) { return k.index == index; });
    if (!seen) result.all_knees.push_back(knee);
    result.knee = knee;
    if (!options.online) return result;
  }
  if (!result.knee) {
    result.no_knee_reason =
        "the difference curve never drops below a maximum's threshold (try a smaller sensitivity)";
  }
  return result;
}

void DetectKneeShape(const std::vector<double>& x, const std::vector<double>& y, KneeCurve* curve,
                     KneeDirection* direction) {
  CheckInput(x, y);
  const size_t n = x.size();
  VIGIL_CHECK(n >= 2, "Kneedle: detecting the curve shape needs at least 2 points, got {}", n);
  // Straight-line least squares.
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  const double slope = sxy / sxx;
  const double intercept = my - slope * mx;
  const auto begin = static_cast<size_t>(static_cast<double>(n) * 0.2);
  const size_t end = std::max(begin + 1, static_cast<size_t>(static_cast<double>(n) * 0.8));
  double residual = 0;
  for (size_t i = begin; i < end; ++i) residual += y[i] - (slope * x[i] + intercept);
  residual /= static_cast<double>(end - begin);
  *direction = slope > 0 ? KneeDirection::kIncreasing : KneeDirection::kDecreasing;
  *curve = residual > 0 ? KneeCurve::kConcave : KneeCurve::kConvex;
}

std::string ToString(KneeCurve curve) {
  return curve == KneeCurve::kConcave ? "concave" : "convex";
}

std::string ToString(KneeDirection direction) {
  return direction == KneeDirection::kIncreasing ? "increasing" : "decreasing";
}

KneeCurve ParseKneeCurve(const std::string& name) {
  if (name == "concave") return KneeCurve::kConcave;
  if (name == "convex") return KneeCurve::kConvex;
  ThrowError(fmt::format("unknown knee curve '{}' (known: concave, convex)", name));
}

KneeDirection ParseKneeDirection(const std::string& name) {
  if (name == "increasing") return KneeDirection::kIncreasing;
  if (name == "decreasing") return KneeDirection::kDecreasing;
  ThrowError(fmt::format("unknown knee direction '{}' (known: increasing, decreasing)", name));
}

}  // namespace vigil
