#include "vigil/dense/deep_change.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"
#include "vigil/util/model_identity.h"
#include "vigil/util/options_fields.h"

namespace vigil::dense {

void DeepChangeOptions::Check() const {
  VIGIL_CHECK_OPTION(!taps.empty(), "dense_deep.taps", "needs at least one backbone output name");
  for (const std::string& tap : taps) {
    VIGIL_CHECK_OPTION(!tap.empty(), "dense_deep.taps", "output names must not be empty");
  }
  VIGIL_CHECK_OPTION(window_cells >= 0 && window_cells <= 8, "dense_deep.window_cells",
                     fmt::format("must be in [0, 8] cells, got {}", window_cells));
  VIGIL_CHECK_OPTION(input_scale > 0 && input_scale <= 2, "dense_deep.input_scale",
                     fmt::format("must be in (0, 2], got {}", input_scale));
  VIGIL_CHECK_OPTION(blur_sigma >= 0 && blur_sigma <= 10, "dense_deep.blur_sigma",
                     fmt::format("must be in [0, 10] pixels, got {}", blur_sigma));
}

ModelSpec DeepModelSpec() {
  ModelSpec spec;
  spec.relative_paths = {"mobilenet_v2/mobilenet_v2_1.0_224_spade.onnx"};
  spec.description = "MobileNetV2 backbone (ONNX) for the deep dense change channel";
  spec.official_source = "../shared/models/mobilenet_v2 (see its README)";
  return spec;
}

cv::Size DeepInputSize(cv::Size image_size, const DeepChangeOptions& options) {
  options.Check();
  VIGIL_CHECK(image_size.area() > 0, "dense deep features: empty image size {}x{}",
              image_size.width, image_size.height);
  auto round32 = [&](int side) {
    return std::max(1, static_cast<int>(std::lround(side * options.input_scale / 32.0))) * 32;
  };
  // The graph ends in a fixed 7x7 average pool whose shape OpenCV infers even when the network
  // stops earlier, so the stride-32 map must have 7 cells: at least 224 pixels a side.
  constexpr int kMinSide = 224;
  return {std::max(kMinSide, round32(image_size.width)),
          std::max(kMinSide, round32(image_size.height))};
}

spade::BackboneOptions DeepBackboneOptions(const std::string& model, cv::Size image_size,
                                           const DeepChangeOptions& options, int num_threads) {
  spade::BackboneOptions backbone = spade::BackbonePreset("mobilenet-v2");
  backbone.model = model;
  const cv::Size input = DeepInputSize(image_size, options);
  backbone.input_width = input.width;
  backbone.input_height = input.height;
  backbone.pyramid_taps = options.taps;
  // OpenCV DNN runs the graph up to the last requested output only; a retrieval output that is
  // one of the taps keeps it from running the stride-16/32 stages this channel never reads.
  backbone.pool_tap = options.taps.front();
  backbone.num_threads = num_threads;
  return backbone;
}

DeepFeatures ComputeDeepFeatures(spade::Backbone& backbone, const cv::Mat& image_8u,
                                 const DeepChangeOptions& options) {
  options.Check();
  VIGIL_CHECK(!image_8u.empty(), "dense deep features: empty image");
  VIGIL_CHECK(image_8u.depth() == CV_8U && (image_8u.channels() == 1 || image_8u.channels() == 3),
              "dense deep features: image must be 8-bit gray or BGR, got type {}", image_8u.type());
  cv::Mat input;  // never a header on image_8u: the blur must not write into the caller's image
  if (options.blur_sigma > 0) {
    cv::GaussianBlur(image_8u, input, cv::Size(0, 0), options.blur_sigma, options.blur_sigma,
                     cv::BORDER_REPLICATE);
  } else {
    input = image_8u;
  }
  spade::BackboneOutput out = backbone.Run(input, "dense deep features");
  DeepFeatures features;
  features.taps = backbone.options().pyramid_taps;
  features.image_size = image_8u.size();
  features.maps = std::move(out.pyramid);
  for (spade::FeatureMap& map : features.maps) {
    const size_t cells = static_cast<size_t>(map.width) * map.height;
    for (size_t p = 0; p < cells; ++p) {
      float* f = map.data.data() + p * map.channels;
      double sq = 0;
      for (int c = 0; c < map.channels; ++c) sq += static_cast<double>(f[c]) * f[c];
      if (sq <= 0) continue;
      const float inv = static_cast<float>(1.0 / std::sqrt(sq));
      for (int c = 0; c < map.channels; ++c) f[c] *= inv;
    }
  }
  return features;
}

namespace {

const spade::FeatureMap& FindTap(const DeepFeatures& features, const std::string& tap,
                                 const char* which) {
  for (size_t i = 0; i < features.taps.size() && i < features.maps.size(); ++i) {
    if (features.taps[i] == tap) {
      const spade::FeatureMap& map = features.maps[i];
      VIGIL_CHECK(map.width > 0 && map.height > 0 && map.channels > 0 &&
                      map.data.size() == static_cast<size_t>(map.width) * map.height * map.channels,
                  "dense::ScoreDeep: {} feature map '{}' is malformed ({}x{}x{}, {} values)",
                  which, tap, map.channels, map.height, map.width, map.data.size());
      return map;
    }
  }
  ThrowError(fmt::format("dense::ScoreDeep: the {} features have no tap '{}'", which, tap));
}

// Bilinear sample of the registration's maps at a fractional query pixel; false when one of the
// pixels it blends is unregistered (the maps hold no position there).
bool SampleRegistration(const Registration& reg, double x, double y, double* rx, double* ry) {
  const int w = reg.map_x.cols, h = reg.map_x.rows;
  x = std::clamp(x, 0.0, w - 1.0);
  y = std::clamp(y, 0.0, h - 1.0);
  const int x0 = std::min(static_cast<int>(x), std::max(w - 2, 0));
  const int y0 = std::min(static_cast<int>(y), std::max(h - 2, 0));
  const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
  const double ax = x - x0, ay = y - y0;
  const uint8_t* v0 = reg.valid.ptr<uint8_t>(y0);
  const uint8_t* v1 = reg.valid.ptr<uint8_t>(y1);
  // Only the pixels with a non-zero weight must be registered.
  if (!v0[x0] || (ax > 0 && !v0[x1]) || (ay > 0 && (!v1[x0] || (ax > 0 && !v1[x1])))) return false;
  auto lerp = [&](const cv::Mat& m) {
    const float* r0 = m.ptr<float>(y0);
    const float* r1 = m.ptr<float>(y1);
    return (1 - ay) * ((1 - ax) * r0[x0] + ax * r0[x1]) + ay * ((1 - ax) * r1[x0] + ax * r1[x1]);
  };
  *rx = lerp(reg.map_x);
  *ry = lerp(reg.map_y);
  return std::isfinite(*rx) && std::isfinite(*ry);
}

struct TapScores {
  cv::Mat new_score, missing_score;  // CV_32F, the query's cell grid
  cv::Mat valid;                     // CV_8U, the query's cell grid
};

TapScores ScoreTap(const spade::FeatureMap& q, cv::Size query_size, const spade::FeatureMap& r,
                   cv::Size reference_size, const Registration& reg, int window) {
  const int W = q.width, H = q.height, C = q.channels;
  const size_t cells = static_cast<size_t>(W) * H;
  // R': the reference features at each query cell's registered position, renormalised (a
  // bilinear blend of unit vectors is shorter than one).
  std::vector<float> warped(cells * C, 0.f);
  cv::Mat registered = cv::Mat::zeros(H, W, CV_8U);
  const double qsx = static_cast<double>(query_size.width) / W;
  const double qsy = static_cast<double>(query_size.height) / H;
  const double rsx = static_cast<double>(r.width) / reference_size.width;
  const double rsy = static_cast<double>(r.height) / reference_size.height;
  cv::parallel_for_(cv::Range(0, H), [&](const cv::Range& rows) {
    std::vector<double> acc(C);
    for (int i = rows.start; i < rows.end; ++i) {
      for (int j = 0; j < W; ++j) {
        double rx, ry;
        if (!SampleRegistration(reg, (j + 0.5) * qsx - 0.5, (i + 0.5) * qsy - 0.5, &rx, &ry))
          continue;
        const double cx = std::clamp((rx + 0.5) * rsx - 0.5, 0.0, r.width - 1.0);
        const double cy = std::clamp((ry + 0.5) * rsy - 0.5, 0.0, r.height - 1.0);
        const int x0 = std::min(static_cast<int>(cx), std::max(r.width - 2, 0));
        const int y0 = std::min(static_cast<int>(cy), std::max(r.height - 2, 0));
        const int x1 = std::min(x0 + 1, r.width - 1), y1 = std::min(y0 + 1, r.height - 1);
        const double ax = cx - x0, ay = cy - y0;
        const float* f00 = r.pixel(y0, x0);
        const float* f01 = r.pixel(y0, x1);
        const float* f10 = r.pixel(y1, x0);
        const float* f11 = r.pixel(y1, x1);
        const double w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay,
                     w11 = ax * ay;
        double sq = 0;
        for (int c = 0; c < C; ++c) {
          acc[c] = w00 * f00[c] + w01 * f01[c] + w10 * f10[c] + w11 * f11[c];
          sq += acc[c] * acc[c];
        }
        float* out = warped.data() + (static_cast<size_t>(i) * W + j) * C;
        const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
        for (int c = 0; c < C; ++c) out[c] = static_cast<float>(acc[c] * inv);
        registered.at<uint8_t>(i, j) = 255;
      }
    }
  });

  // dots[cell][k] = <Q(cell), R'(cell + d_k)> for the window offsets d_k; the "missing"
  // direction reads the same products from the other end (cell + d_k, offset -d_k).
  const int side = 2 * window + 1, K = side * side;
  constexpr float kNone = -2.f;  // below any cosine: no candidate
  std::vector<float> dots(cells * K, kNone);
  cv::parallel_for_(cv::Range(0, H), [&](const cv::Range& rows) {
    for (int i = rows.start; i < rows.end; ++i) {
      for (int j = 0; j < W; ++j) {
        const float* fq = q.pixel(i, j);
        float* out = dots.data() + (static_cast<size_t>(i) * W + j) * K;
        for (int dy = -window; dy <= window; ++dy) {
          const int y = i + dy;
          if (y < 0 || y >= H) continue;
          const uint8_t* reg_row = registered.ptr<uint8_t>(y);
          for (int dx = -window; dx <= window; ++dx) {
            const int x = j + dx;
            if (x < 0 || x >= W || !reg_row[x]) continue;
            const float* fr = warped.data() + (static_cast<size_t>(y) * W + x) * C;
            float dot = 0;
            for (int c = 0; c < C; ++c) dot += fq[c] * fr[c];
            out[(dy + window) * side + (dx + window)] = dot;
          }
        }
      }
    }
  });

  TapScores scores;
  scores.new_score = cv::Mat::zeros(H, W, CV_32F);
  scores.missing_score = cv::Mat::zeros(H, W, CV_32F);
  auto distance = [](float dot) { return std::sqrt(std::max(0.f, 2.f - 2.f * dot)); };
  for (int i = 0; i < H; ++i) {
    for (int j = 0; j < W; ++j) {
      const float* own = dots.data() + (static_cast<size_t>(i) * W + j) * K;
      float best_new = kNone, best_missing = kNone;
      for (int k = 0; k < K; ++k) best_new = std::max(best_new, own[k]);
      if (registered.at<uint8_t>(i, j)) {
        for (int dy = -window; dy <= window; ++dy) {
          const int y = i + dy;
          if (y < 0 || y >= H) continue;
          for (int dx = -window; dx <= window; ++dx) {
            const int x = j + dx;
            if (x < 0 || x >= W) continue;
            const float* other = dots.data() + (static_cast<size_t>(y) * W + x) * K;
            best_missing = std::max(best_missing, other[(window - dy) * side + (window - dx)]);
          }
        }
      }
      scores.new_score.at<float>(i, j) = best_new > kNone ? distance(best_new) : 0.f;
      scores.missing_score.at<float>(i, j) = best_missing > kNone ? distance(best_missing) : 0.f;
    }
  }
  // Valid: every window cell inside the query grid is registered (cells beyond the grid's edge
  // are absent from both images alike, so they are dropped rather than charged).
  cv::erode(registered, scores.valid,
            cv::getStructuringElement(cv::MORPH_RECT, cv::Size(side, side)), cv::Point(-1, -1), 1,
            cv::BORDER_CONSTANT, cv::Scalar(255));
  return scores;
}

}  // namespace

ChangeMap ScoreDeep(const DeepFeatures& query, const DeepFeatures& reference,
                    const Registration& registration, const DeepChangeOptions& options) {
  options.Check();
  VIGIL_CHECK(!query.empty() && !reference.empty(), "dense::ScoreDeep: empty {} features",
              query.empty() ? "query" : "reference");
  VIGIL_CHECK(!registration.empty(), "dense::ScoreDeep: empty registration");
  VIGIL_CHECK(registration.map_x.type() == CV_32F && registration.map_y.type() == CV_32F &&
                  registration.valid.type() == CV_8U &&
                  registration.map_y.size() == registration.map_x.size() &&
                  registration.valid.size() == registration.map_x.size(),
              "dense::ScoreDeep: malformed registration (map_x, map_y CV_32F and valid CV_8U of "
              "one size expected)");
  VIGIL_CHECK(registration.query_size() == query.image_size,
              "dense::ScoreDeep: the registration is for a {}x{} query, the features describe "
              "{}x{}",
              registration.query_size().width, registration.query_size().height,
              query.image_size.width, query.image_size.height);
  VIGIL_CHECK(registration.reference_size == reference.image_size,
              "dense::ScoreDeep: the registration is for a {}x{} reference, the features "
              "describe {}x{}",
              registration.reference_size.width, registration.reference_size.height,
              reference.image_size.width, reference.image_size.height);
  const cv::Size size = query.image_size;
  ChangeMap map;
  map.new_score = cv::Mat::zeros(size, CV_32F);
  map.missing_score = cv::Mat::zeros(size, CV_32F);
  registration.valid.copyTo(map.valid);
  // Resolve every tap first, so a missing one throws even when nothing is registered.
  std::vector<std::pair<const spade::FeatureMap*, const spade::FeatureMap*>> taps;
  for (const std::string& tap : options.taps) {
    const spade::FeatureMap& q = FindTap(query, tap, "query");
    const spade::FeatureMap& r = FindTap(reference, tap, "reference");
    VIGIL_CHECK(q.channels == r.channels,
                "dense::ScoreDeep: tap '{}' has {} channels in the query, {} in the reference", tap,
                q.channels, r.channels);
    taps.emplace_back(&q, &r);
  }
  if (cv::countNonZero(map.valid) == 0) return map;

  cv::Mat up, cell_valid;
  for (const auto& [q, r] : taps) {
    const TapScores s = ScoreTap(*q, size, *r, reference.image_size, registration,
                                 options.window_cells);
    cv::resize(s.new_score, up, size, 0, 0, cv::INTER_LINEAR);
    map.new_score += up;
    cv::resize(s.missing_score, up, size, 0, 0, cv::INTER_LINEAR);
    map.missing_score += up;
    // A pixel belongs to the cell that contains it (what INTER_NEAREST picks).
    cv::resize(s.valid, cell_valid, size, 0, 0, cv::INTER_NEAREST);
    map.valid &= cell_valid;
  }
  const double inv = 1.0 / static_cast<double>(taps.size());
  map.new_score *= inv;
  map.missing_score *= inv;
  map.new_score.setTo(0, map.valid == 0);
  map.missing_score.setTo(0, map.valid == 0);
  return map;
}

DeepFeatureComputer::DeepFeatureComputer(std::string model, DeepChangeOptions options, int num_threads)
    : model_(std::move(model)), options_(std::move(options)), num_threads_(num_threads) {
  options_.Check();
}

DeepFeatures DeepFeatureComputer::operator()(const cv::Mat& color_or_gray) {
  cv::Mat image = color_or_gray;
  if (image.channels() == 3) cv::cvtColor(color_or_gray, image, cv::COLOR_BGR2GRAY);
  std::unique_ptr<spade::Backbone>& backbone = backbones_[{image.cols, image.rows}];
  if (!backbone) {
    backbone = std::make_unique<spade::Backbone>(
        DeepBackboneOptions(model_, image.size(), options_, num_threads_));
  }
  return ComputeDeepFeatures(*backbone, image, options_);
}

nlohmann::json DeepFeatureComputer::Identity() const {
  return {{"taps", options_.taps},
          {"input_scale", options_.input_scale},
          {"blur_sigma", options_.blur_sigma},
          {"gray", true},
          {"model", ModelIdentity(model_)}};
}

std::string DeepFeatureComputer::Key() const { return ConfigHash(Identity()); }

}  // namespace vigil::dense
