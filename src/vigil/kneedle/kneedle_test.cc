#include "vigil/kneedle/kneedle.h"

#include <cmath>
#include <limits>
#include <set>

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil {
namespace {

// Expected values below are those asserted by kneed's own test-suite (arvkevi/kneed,
// tests/test_sample.py) on its DataGenerator curves, which this implementation follows.

std::vector<double> Range(int n, double scale = 1.0) {
  std::vector<double> x(n);
  for (int i = 0; i < n; ++i) x[i] = i * scale;
  return x;
}

std::vector<double> Scaled(std::vector<double> v, double scale, size_t keep) {
  v.resize(keep);
  for (double& value : v) value *= scale;
  return v;
}

KneedleOptions Options(KneeCurve curve, KneeDirection direction, double s = 1.0,
                       bool online = false) {
  KneedleOptions options;
  options.curve = curve;
  options.direction = direction;
  options.sensitivity = s;
  options.online = online;
  return options;
}

const std::vector<double> kConvexIncreasing = {1, 2, 3, 4, 5, 10, 15, 20, 40, 100};
const std::vector<double> kConvexDecreasing = {100, 40, 20, 15, 10, 5, 4, 3, 2, 1};
const std::vector<double> kConcaveDecreasing = {99, 98, 97, 96, 95, 90, 85, 80, 60, 0};
const std::vector<double> kConcaveIncreasing = {0, 60, 80, 85, 90, 95, 96, 97, 98, 99};

// kneed DataGenerator.bumpy(): a noisy convex decreasing curve (90 points).
const std::vector<double> kBumpy = {
    7305.0, 6979.0, 6666.6, 6463.2, 6326.5, 6048.8, 6032.8, 5762.0, 5742.8, 5398.2, 5256.8, 5227.0,
    5001.7, 4942.0, 4854.2, 4734.6, 4558.7, 4491.1, 4411.6, 4333.0, 4234.6, 4139.1, 4056.8, 4022.5,
    3868.0, 3808.3, 3745.3, 3692.3, 3645.6, 3618.3, 3574.3, 3504.3, 3452.4, 3401.2, 3382.4, 3340.7,
    3301.1, 3247.6, 3190.3, 3180.0, 3154.2, 3089.5, 3045.6, 2989.0, 2993.6, 2941.3, 2875.6, 2866.3,
    2834.1, 2785.1, 2759.7, 2763.2, 2720.1, 2660.1, 2690.2, 2635.7, 2632.9, 2574.6, 2556.0, 2545.7,
    2513.4, 2491.6, 2496.0, 2466.5, 2442.7, 2420.5, 2381.5, 2388.1, 2340.6, 2335.0, 2318.9, 2319.0,
    2308.2, 2262.2, 2235.8, 2259.3, 2221.0, 2202.7, 2184.3, 2170.1, 2160.0, 2127.7, 2134.7, 2102.0,
    2101.4, 2066.4, 2074.3, 2063.7, 2048.1, 2031.9};

TEST(Kneedle, Figure2OfThePaper) {
  // Satopaa et al. Fig. 2: y = -1/(x + 0.1) + 5 on 10 points in [0, 1]; knee at x ~ 0.22.
  std::vector<double> x(10), y(10);
  for (int i = 0; i < 10; ++i) {
    x[i] = i / 9.0;
    y[i] = -1.0 / (x[i] + 0.1) + 5;
  }
  const KneedleResult r = FindKnee(x, y, Options(KneeCurve::kConcave, KneeDirection::kIncreasing));
  ASSERT_TRUE(r.knee.has_value()) << r.no_knee_reason;
  EXPECT_NEAR(r.knee->x, 0.22, 0.22 * 0.05);
  EXPECT_EQ(r.knee->index, 2u);
  EXPECT_NEAR(r.knee->y, 1.897, 1.897 * 0.03);
  EXPECT_NEAR(r.knee->y_normalized, 0.758, 0.758 * 0.03);
  ASSERT_EQ(r.all_knees.size(), 1u);
  EXPECT_EQ(r.all_knees[0].index, 2u);

  KneedleOptions poly = Options(KneeCurve::kConcave, KneeDirection::kIncreasing);
  poly.polynomial_fit = true;
  const KneedleResult rp = FindKnee(x, y, poly);
  ASSERT_TRUE(rp.knee.has_value()) << rp.no_knee_reason;
  EXPECT_NEAR(rp.knee->x, 0.22, 0.22 * 0.05);
}

TEST(Kneedle, FourCurveShapes) {
  const std::vector<double> x = Range(10);
  struct Case {
    const std::vector<double>* y;
    KneeCurve curve;
    KneeDirection direction;
    double knee;
  };
  const Case cases[] = {
      {&kConcaveIncreasing, KneeCurve::kConcave, KneeDirection::kIncreasing, 2},
      {&kConcaveDecreasing, KneeCurve::kConcave, KneeDirection::kDecreasing, 7},
      {&kConvexIncreasing, KneeCurve::kConvex, KneeDirection::kIncreasing, 7},
      {&kConvexDecreasing, KneeCurve::kConvex, KneeDirection::kDecreasing, 2},
  };
  for (const Case& c : cases) {
    for (bool poly : {false, true}) {
      KneedleOptions options = Options(c.curve, c.direction);
      options.polynomial_fit = poly;
      const KneedleResult r = FindKnee(x, *c.y, options);
      ASSERT_TRUE(r.knee.has_value()) << ToString(c.curve) << " " << ToString(c.direction);
      EXPECT_DOUBLE_EQ(r.knee->x, c.knee)
          << ToString(c.curve) << " " << ToString(c.direction) << " poly " << poly;
      EXPECT_DOUBLE_EQ(r.knee->y, (*c.y)[static_cast<size_t>(c.knee)]);
    }
  }
}

TEST(Kneedle, TruncatedCurves) {
  // kneed: x[:-3] / 10, y[:-3] / 10.
  const std::vector<double> x = Scaled(Range(10), 0.1, 7);
  struct Case {
    const std::vector<double>* y;
    KneeCurve curve;
    KneeDirection direction;
    double knee;
  };
  const Case cases[] = {
      {&kConcaveIncreasing, KneeCurve::kConcave, KneeDirection::kIncreasing, 0.2},
      {&kConcaveDecreasing, KneeCurve::kConcave, KneeDirection::kDecreasing, 0.4},
      {&kConvexIncreasing, KneeCurve::kConvex, KneeDirection::kIncreasing, 0.4},
      {&kConvexDecreasing, KneeCurve::kConvex, KneeDirection::kDecreasing, 0.2},
  };
  for (const Case& c : cases) {
    for (bool poly : {false, true}) {
      KneedleOptions options = Options(c.curve, c.direction);
      options.polynomial_fit = poly;
      const KneedleResult r = FindKnee(x, Scaled(*c.y, 0.1, 7), options);
      ASSERT_TRUE(r.knee.has_value());
      EXPECT_NEAR(r.knee->x, c.knee, 1e-12)
          << ToString(c.curve) << " " << ToString(c.direction) << " poly " << poly;
    }
  }
}

TEST(Kneedle, BumpyCurveOfflineAndPolynomial) {
  const std::vector<double> x = Range(static_cast<int>(kBumpy.size()));
  KneedleOptions options = Options(KneeCurve::kConvex, KneeDirection::kDecreasing);
  const KneedleResult r = FindKnee(x, kBumpy, options);
  ASSERT_TRUE(r.knee.has_value());
  EXPECT_DOUBLE_EQ(r.knee->x, 26);
  options.polynomial_fit = true;
  const KneedleResult rp = FindKnee(x, kBumpy, options);
  ASSERT_TRUE(rp.knee.has_value());
  EXPECT_DOUBLE_EQ(rp.knee->x, 28);
}

TEST(Kneedle, BumpyCurveOnlineListsEveryKnee) {
  // kneed's test_all_knees: online detection on the bumpy curve finds these elbows.
  const std::vector<double> x = Range(static_cast<int>(kBumpy.size()));
  const KneedleResult r =
      FindKnee(x, kBumpy, Options(KneeCurve::kConvex, KneeDirection::kDecreasing, 1.0, true));
  std::set<double> knees;
  for (const Knee& k : r.all_knees) knees.insert(k.x);
  EXPECT_EQ(knees, (std::set<double>{26, 31, 41, 46, 53}));
  ASSERT_TRUE(r.knee.has_value());
  EXPECT_DOUBLE_EQ(r.knee->x, 53);  // online: the last knee found
  // Offline stops at the first of them.
  const KneedleResult offline =
      FindKnee(x, kBumpy, Options(KneeCurve::kConvex, KneeDirection::kDecreasing));
  EXPECT_EQ(offline.all_knees.size(), 1u);
}

TEST(Kneedle, FlatMaximumAndSensitivity) {
  // kneed test_flat_maxima: S = 0 finds the first local maximum, S = 1 the global one.
  const std::vector<double> x = Range(18);
  const std::vector<double> y = {1,
                                 0.787701317715959,
                                 0.7437774524158126,
                                 0.6559297218155198,
                                 0.5065885797950219,
                                 0.36749633967789164,
                                 0.2547584187408492,
                                 0.16251830161054173,
                                 0.10395314787701318,
                                 0.06734992679355783,
                                 0.043923865300146414,
                                 0.027818448023426062,
                                 0.01903367496339678,
                                 0.013177159590043924,
                                 0.010248901903367497,
                                 0.007320644216691069,
                                 0.005856515373352855,
                                 0.004392386530014641};
  const KneedleResult s0 =
      FindKnee(x, y, Options(KneeCurve::kConvex, KneeDirection::kDecreasing, 0.0));
  ASSERT_TRUE(s0.knee.has_value());
  EXPECT_DOUBLE_EQ(s0.knee->x, 1.0);
  const KneedleResult s1 =
      FindKnee(x, y, Options(KneeCurve::kConvex, KneeDirection::kDecreasing, 1.0));
  ASSERT_TRUE(s1.knee.has_value());
  EXPECT_DOUBLE_EQ(s1.knee->x, 8.0);
}

TEST(Kneedle, SineOnline) {
  // kneed test_sine: x = arange(0, 10, 0.1), y = sin(x), online, S = 1.
  std::vector<double> x(100), y(100);
  for (int i = 0; i < 100; ++i) {
    x[i] = i * 0.1;
    y[i] = std::sin(x[i]);
  }
  struct Case {
    KneeDirection direction;
    KneeCurve curve;
    double knee;
  };
  const Case cases[] = {{KneeDirection::kDecreasing, KneeCurve::kConvex, 4.5},
                        {KneeDirection::kIncreasing, KneeCurve::kConvex, 4.9},
                        {KneeDirection::kIncreasing, KneeCurve::kConcave, 7.7},
                        {KneeDirection::kDecreasing, KneeCurve::kConcave, 1.8}};
  for (const Case& c : cases) {
    const KneedleResult r = FindKnee(x, y, Options(c.curve, c.direction, 1.0, true));
    ASSERT_TRUE(r.knee.has_value());
    EXPECT_NEAR(r.knee->x, c.knee, 1e-9) << ToString(c.curve) << " " << ToString(c.direction);
  }
}

TEST(Kneedle, PiecewiseLinearCornerIsTheKnee) {
  // Analytic: slope 1 up to x = 0.6, then slope 0.05. Concave increasing, knee exactly at 0.6.
  std::vector<double> x, y;
  for (int i = 0; i <= 20; ++i) {
    const double v = i * 0.05;
    x.push_back(v);
    y.push_back(v <= 0.6 ? v : 0.6 + 0.05 * (v - 0.6));
  }
  const KneedleResult r = FindKnee(x, y, Options(KneeCurve::kConcave, KneeDirection::kIncreasing));
  ASSERT_TRUE(r.knee.has_value());
  EXPECT_NEAR(r.knee->x, 0.6, 1e-12);
  // The mirrored curve (convex decreasing) has its elbow at the mirrored place.
  std::vector<double> mirrored(y.rbegin(), y.rend());
  const KneedleResult m =
      FindKnee(x, mirrored, Options(KneeCurve::kConcave, KneeDirection::kDecreasing));
  ASSERT_TRUE(m.knee.has_value());
  EXPECT_NEAR(m.knee->x, 0.4, 1e-12);
}

TEST(Kneedle, NoKneeCases) {
  // kneed test_y_no_knee.
  const KneedleResult few = FindKnee({1, 2, 3}, {0.90483742, 0.81873075, 0.74081822},
                                     Options(KneeCurve::kConvex, KneeDirection::kDecreasing));
  EXPECT_FALSE(few.knee.has_value());
  EXPECT_FALSE(few.no_knee_reason.empty());
  // Flat curve (kneed test_x_equals_y warns; here: no knee with a reason, no NaN).
  const KneedleResult flat = FindKnee(Range(10), std::vector<double>(10, 1.0), KneedleOptions());
  EXPECT_FALSE(flat.knee.has_value());
  EXPECT_NE(flat.no_knee_reason.find("flat"), std::string::npos);
  // A straight line has no knee.
  const KneedleResult line = FindKnee(Range(10), Range(10, 2.0), KneedleOptions());
  EXPECT_FALSE(line.knee.has_value());
  // Too few points.
  EXPECT_FALSE(FindKnee({0, 1}, {0, 1}, KneedleOptions()).knee.has_value());
  EXPECT_FALSE(FindKnee({}, {}, KneedleOptions()).knee.has_value());
}

TEST(Kneedle, InvalidInputThrows) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(FindKnee({0, 1, 2}, {0, 1}, KneedleOptions()), Error);
  EXPECT_THROW(FindKnee({0, 1, 2}, {0, nan, 1}, KneedleOptions()), Error);
  EXPECT_THROW(FindKnee({0, 2, 1}, {0, 1, 2}, KneedleOptions()), Error);
  EXPECT_THROW(FindKnee({0, 1, 1}, {0, 1, 2}, KneedleOptions()), Error);
  KneedleOptions bad;
  bad.sensitivity = -1;
  EXPECT_THROW(FindKnee({0, 1, 2}, {0, 1, 2}, bad), Error);
  try {
    FindKnee({0, 1, 2}, {0, nan, 1}, KneedleOptions());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("y[1]"), std::string::npos) << e.what();
  }
}

TEST(Kneedle, DetectShape) {
  const std::vector<double> x = Range(10);
  KneeCurve curve;
  KneeDirection direction;
  DetectKneeShape(x, kConcaveIncreasing, &curve, &direction);
  EXPECT_EQ(curve, KneeCurve::kConcave);
  EXPECT_EQ(direction, KneeDirection::kIncreasing);
  DetectKneeShape(x, kConcaveDecreasing, &curve, &direction);
  EXPECT_EQ(curve, KneeCurve::kConcave);
  EXPECT_EQ(direction, KneeDirection::kDecreasing);
  DetectKneeShape(x, kConvexIncreasing, &curve, &direction);
  EXPECT_EQ(curve, KneeCurve::kConvex);
  EXPECT_EQ(direction, KneeDirection::kIncreasing);
  DetectKneeShape(x, kConvexDecreasing, &curve, &direction);
  EXPECT_EQ(curve, KneeCurve::kConvex);
  EXPECT_EQ(direction, KneeDirection::kDecreasing);
  EXPECT_THROW(DetectKneeShape({1}, {1}, &curve, &direction), Error);
}

TEST(Kneedle, ParseNames) {
  EXPECT_EQ(ParseKneeCurve("convex"), KneeCurve::kConvex);
  EXPECT_EQ(ParseKneeDirection("decreasing"), KneeDirection::kDecreasing);
  EXPECT_THROW(ParseKneeCurve("bad curve"), Error);
  EXPECT_THROW(ParseKneeDirection("bad direction"), Error);
}

}  // namespace
}  // namespace vigil
