#include "vigil/spade/detector.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>

#include "vigil/spade/patchcore.h"
#include "vigil/spade/spade_detector.h"
#include "vigil/util/check.h"

namespace vigil::spade {
namespace {

// One entry per method: how to make it, how to check its own options, its declared shorthands
// and the fields it fixes at fit time.
struct DetectorEntry {
  const char* name;
  std::unique_ptr<AnomalyDetector> (*make)(const AnomalyDetectorOptions&);
  void (*check)(const AnomalyDetectorOptions&);
  std::vector<OptionFlag> flags;
  std::vector<std::string> fit_time_fields;
};

// Options::kFitTimeFields, or none.
template <class T, class = void>
struct FitTimeFields {
  static std::vector<std::string> Get() { return {}; }
};
template <class T>
struct FitTimeFields<T, std::void_t<decltype(T::kFitTimeFields)>> {
  static std::vector<std::string> Get() { return {T::kFitTimeFields.begin(), T::kFitTimeFields.end()}; }
};

// The entry of the method whose options are AnomalyDetectorOptions::*Member.
template <auto Member>
DetectorEntry Entry(const char* name,
                    std::unique_ptr<AnomalyDetector> (*make)(const AnomalyDetectorOptions&)) {
  using Options = std::decay_t<decltype(std::declval<AnomalyDetectorOptions>().*Member)>;
  return {name, make, [](const AnomalyDetectorOptions& o) { (o.*Member).Check(); },
          DeclaredFlags<Options>::Get(), FitTimeFields<Options>::Get()};
}

// The factory table: one line per method. Its names are AnomalyDetectorOptions's field names
// (AnomalyDetectorPluginFlags builds "patchcore.seed" from them).
const std::vector<DetectorEntry>& DetectorTable() {
  static const std::vector<DetectorEntry> table = {
      Entry<&AnomalyDetectorOptions::spade>("spade", MakeSpadeDetector),
      Entry<&AnomalyDetectorOptions::patchcore>("patchcore", MakePatchCoreDetector),
  };
  return table;
}

}  // namespace

void CheckAnomalyMethod(const std::string& method, const std::string& option) {
  const auto names = AnomalyDetectorNames();
  VIGIL_CHECK_OPTION(std::find(names.begin(), names.end(), method) != names.end(), option,
                     fmt::format("must be one of {}, got '{}'", fmt::join(names, "|"), method));
}

void AnomalyDetectorOptions::Check() const {
  CheckAnomalyMethod(method);
  // The method's own options only, as for the other plugin families: the front ends refuse a
  // shorthand of a method that does not run, so nothing set for the other one goes unnoticed.
  for (const auto& entry : DetectorTable()) {
    if (entry.name == method) entry.check(*this);
  }
  knn.Check();
}

std::vector<std::string> AnomalyDetectorNames() {
  std::vector<std::string> names;
  for (const auto& entry : DetectorTable()) names.push_back(entry.name);
  return names;
}

std::vector<PluginFlag> AnomalyDetectorPluginFlags(bool with_fit_time_fields) {
  std::vector<PluginFlag> out;
  for (const auto& entry : DetectorTable()) {
    for (const OptionFlag& f : entry.flags) {
      const std::string path = std::string(entry.name) + "." + f.field;
      if (!with_fit_time_fields && IsFitTimeField(path)) continue;
      out.push_back({f.name, path, f.help, entry.name, f.letter});
    }
  }
  return out;
}

bool IsFitTimeField(const std::string& path) {
  for (const auto& entry : DetectorTable()) {
    const std::string prefix = std::string(entry.name) + ".";
    if (path.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string field = path.substr(prefix.size());
    const auto& fixed = entry.fit_time_fields;
    return std::find(fixed.begin(), fixed.end(), field) != fixed.end();
  }
  return false;
}

std::unique_ptr<AnomalyDetector> AnomalyDetector::Create(const AnomalyDetectorOptions& options) {
  options.Check();
  for (const auto& entry : DetectorTable()) {
    if (options.method == entry.name) return entry.make(options);
  }
  ThrowError(fmt::format("unknown anomaly detection method '{}'", options.method));
}

std::vector<float> ResizeBilinear(const float* src, int height, int width, int channels,
                                  int out_height, int out_width) {
  std::vector<float> out(static_cast<size_t>(out_height) * out_width * channels);
  if (height == out_height && width == out_width) {
    std::copy(src, src + out.size(), out.begin());
    return out;
  }
  // Source coordinate of an output pixel: (i + 0.5) * in / out - 0.5, clamped at 0.
  struct Tap {
    int i0, i1;
    float w1;
  };
  auto taps = [](int in, int out_size) {
    std::vector<Tap> t(out_size);
    const float scale = static_cast<float>(in) / out_size;
    for (int i = 0; i < out_size; ++i) {
      const float s = std::max((i + 0.5f) * scale - 0.5f, 0.f);
      const int i0 = std::min(static_cast<int>(s), in - 1);
      t[i] = {i0, std::min(i0 + 1, in - 1), s - i0};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(height, out_height), tx = taps(width, out_width);
  for (int y = 0; y < out_height; ++y) {
    const float wy1 = ty[y].w1, wy0 = 1.f - wy1;
    const float* r0 = src + static_cast<size_t>(ty[y].i0) * width * channels;
    const float* r1 = src + static_cast<size_t>(ty[y].i1) * width * channels;
    for (int x = 0; x < out_width; ++x) {
      const float wx1 = tx[x].w1, wx0 = 1.f - wx1;
      const float* a = r0 + static_cast<size_t>(tx[x].i0) * channels;
      const float* b = r0 + static_cast<size_t>(tx[x].i1) * channels;
      const float* c = r1 + static_cast<size_t>(tx[x].i0) * channels;
      const float* d = r1 + static_cast<size_t>(tx[x].i1) * channels;
      float* o = out.data() + (static_cast<size_t>(y) * out_width + x) * channels;
      for (int ch = 0; ch < channels; ++ch) {
        o[ch] = wy0 * (wx0 * a[ch] + wx1 * b[ch]) + wy1 * (wx0 * c[ch] + wx1 * d[ch]);
      }
    }
  }
  return out;
}

void GaussianSmooth(cv::Mat& map, double sigma) {
  VIGIL_CHECK(map.type() == CV_32FC1, "GaussianSmooth: expects a CV_32FC1 map");
  if (sigma <= 0) return;
  const int radius = static_cast<int>(4.0 * sigma + 0.5);  // scipy: truncate * sigma + 0.5
  cv::Mat kernel(2 * radius + 1, 1, CV_64F);
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) {
    const double w = std::exp(-0.5 * i * i / (sigma * sigma));
    kernel.at<double>(i + radius) = w;
    sum += w;
  }
  kernel /= sum;
  // scipy's "reflect" repeats the edge pixel (dcba|abcd) = OpenCV's BORDER_REFLECT.
  cv::Mat wide, smoothed;
  map.convertTo(wide, CV_64F);
  cv::sepFilter2D(wide, smoothed, CV_64F, kernel, kernel, cv::Point(-1, -1), 0, cv::BORDER_REFLECT);
  smoothed.convertTo(map, CV_32F);
}

}  // namespace vigil::spade
