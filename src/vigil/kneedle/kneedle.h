// Kneedle: finding the knee (or elbow) of a curve.
//
// V. Satopaa, J. Albrecht, D. Irwin, B. Raghavan, "Finding a 'Kneedle' in a Haystack: Detecting
// Knee Points in System Behavior", ICDCS Workshops 2011. The behaviour follows the `kneed` Python
// package (arvkevi/kneed, KneeLocator), which is what the robot change-detection paper used:
//   1. optional smoothing (kneed's "interp1d" evaluated at the data points is the identity; the
//      "polynomial" method is a least-squares polynomial fit of `polynomial_degree`);
//   2. min-max normalisation of x and y to [0, 1];
//   3. the curve is transformed into a concave increasing one (decreasing/concave: y reversed;
//      decreasing/convex: max - y; increasing/convex: max - y, reversed), and the difference
//      curve y_d = y_n - x_n is formed (x_n is never reversed, exactly as kneed does);
//   4. local maxima (>= both neighbours) and minima (<= both neighbours) of y_d, endpoints
//      included (scipy argrelextrema with mode "clip");
//   5. each maximum gets a threshold T = y_d(max) - S * mean(diff(x_n));
//   6. walking right from the first maximum, a knee is declared at the last maximum when the
//      next y_d drops below the current threshold (a local minimum resets the threshold to 0).
// Offline mode returns the first knee found; online mode keeps walking and returns the last one
// (knees found later "correct" earlier ones), both list every knee found.
//
// Valid but knee-less curves (fewer than 3 points, flat x or y, no local maximum, nothing ever
// drops below a threshold) give a result without a knee and a reason; invalid input (sizes
// differ, NaN/Inf, x not strictly increasing) throws vigil::Error.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace vigil {

enum class KneeCurve {
  kConcave,  // bends down (a "knee", e.g. y = log x)
  kConvex,   // bends up (an "elbow", e.g. y = x^2 or a sorted k-distance curve)
};
enum class KneeDirection { kIncreasing, kDecreasing };

struct KneedleOptions {
  double sensitivity = 1.0;                              // S: flat points needed before a knee
  KneeCurve curve = KneeCurve::kConcave;                 // shape of the curve around the knee
  KneeDirection direction = KneeDirection::kIncreasing;  // overall trend of y with x
  bool online = false;          // false: first knee found (kneed default); true: last knee found
  bool polynomial_fit = false;  // smooth y by a least-squares polynomial first (kneed "polynomial")
  int polynomial_degree = 7;    // degree of that polynomial (kneed default)
  void Check() const;
};

struct Knee {
  size_t index = 0;         // index into the input arrays
  double x = 0;             // input x at the knee
  double y = 0;             // input (unsmoothed) y at the knee
  double x_normalized = 0;  // x in [0, 1] (kneed reports norm_knee in its reversed frame; not here)
  double y_normalized = 0;  // smoothed y in [0, 1], original orientation
};

struct KneedleResult {
  std::optional<Knee> knee;          // offline: first knee found; online: last; empty = no knee
  std::vector<Knee> all_knees;       // every distinct knee in the order found
  std::string no_knee_reason;        // why `knee` is empty (empty when there is a knee)
  std::vector<double> x_normalized;  // min-max normalised x
  std::vector<double> y_normalized;  // min-max normalised smoothed y, original orientation
  // The difference curve in kneed's transformed frame (index i pairs with x_normalized[i]; for
  // increasing/convex and decreasing/concave curves that frame is y reversed).
  std::vector<double> y_difference;
  std::vector<size_t> maxima_indices;     // local maxima of y_difference
  std::vector<size_t> minima_indices;     // local minima of y_difference
  std::vector<double> maxima_thresholds;  // T for each maximum
};

// Finds the knee of y(x). x must be strictly increasing; x and y finite and of equal size.
KneedleResult FindKnee(const std::vector<double>& x, const std::vector<double>& y,
                       const KneedleOptions& options);

// kneed's find_shape: a straight-line fit gives the direction (slope > 0: increasing) and the
// mean residual over the middle 20%..80% of the points the curve (> 0: concave, else convex).
// Throws vigil::Error on fewer than 2 points or invalid input.
void DetectKneeShape(const std::vector<double>& x, const std::vector<double>& y, KneeCurve* curve,
                     KneeDirection* direction);

std::string ToString(KneeCurve curve);          // "concave" | "convex"
std::string ToString(KneeDirection direction);  // "increasing" | "decreasing"
// Parse the names above; throw vigil::Error naming the accepted values.
KneeCurve ParseKneeCurve(const std::string& name);
KneeDirection ParseKneeDirection(const std::string& name);

}  // namespace vigil
