#include "vigil/nn/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "vigil/nn/gemm.h"
#include "vigil/nn/parallel.h"
#include "vigil/util/check.h"

namespace vigil::nn {

ImageShape GetImageShape(const Tensor& x, const char* op) {
  VIGIL_CHECK((x.dim() == 3 || (x.dim() == 4 && x.shape[0] == 1)) &&
                  x.numel() == Tensor::NumElements(x.shape),
              "{}: expected a C x H x W or 1 x C x H x W tensor, got {}", op, x.ShapeString());
  const int off = x.dim() - 3;
  return {x.shape[off], x.shape[off + 1], x.shape[off + 2]};
}

namespace {

// Output height and width of a pooling window over `s`, after checking the parameters (PyTorch's
// floor rule; padding at most half the kernel, as PyTorch requires).
std::pair<int64_t, int64_t> PooledSize(const Tensor& x, const ImageShape& s, int kernel, int stride,
                                       int padding, const char* op) {
  VIGIL_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel,
              "{}: bad kernel {} stride {} padding {}", op, kernel, stride, padding);
  const int64_t oh = (s.h + 2 * padding - kernel) / stride + 1;
  const int64_t ow = (s.w + 2 * padding - kernel) / stride + 1;
  VIGIL_CHECK(oh > 0 && ow > 0, "{}: input {} smaller than kernel {}", op, x.ShapeString(),
              kernel);
  return {oh, ow};
}

}  // namespace

Tensor MakeImageLike(const Tensor& like, int64_t c, int64_t h, int64_t w) {
  if (like.dim() == 4) return Tensor({1, c, h, w});
  return Tensor({c, h, w});
}

void ApplyActivation(Activation act, float* d, int64_t n, float alpha) {
  switch (act) {
    case Activation::kNone:
      return;
    case Activation::kReLU:
      for (int64_t i = 0; i < n; ++i) d[i] = std::max(d[i], 0.f);
      return;
    case Activation::kLeakyReLU:
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] >= 0.f ? d[i] : alpha * d[i];
      return;
    case Activation::kELU:
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] > 0.f ? d[i] : alpha * std::expm1(d[i]);
      return;
    case Activation::kSELU: {
      constexpr float kAlpha = 1.6732632423543772f, kScale = 1.0507009873554805f;
      for (int64_t i = 0; i < n; ++i) {
        d[i] = kScale * (d[i] > 0.f ? d[i] : kAlpha * std::expm1(d[i]));
      }
      return;
    }
    case Activation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) d[i] = 1.f / (1.f + std::exp(-d[i]));
      return;
    case Activation::kTanh:
      for (int64_t i = 0; i < n; ++i) d[i] = std::tanh(d[i]);
      return;
    case Activation::kGELU:
      for (int64_t i = 0; i < n; ++i) {
        d[i] = 0.5f * d[i] * (1.f + std::erf(d[i] * 0.70710678118654752f));
      }
      return;
    case Activation::kSiLU:
      for (int64_t i = 0; i < n; ++i) d[i] = d[i] / (1.f + std::exp(-d[i]));
      return;
  }
  ThrowError("ApplyActivation: unknown activation");
}

void ResizeImageLike(const Tensor& like, int64_t c, int64_t h, int64_t w, Tensor& out) {
  if (like.dim() == 4) {
    out.Resize({1, c, h, w});
  } else {
    out.Resize({c, h, w});
  }
}

Tensor MaxPool2d(const Tensor& x, int kernel, int stride, int padding) {
  Tensor y;
  MaxPool2d(x, kernel, stride, padding, y);
  return y;
}

void MaxPool2d(const Tensor& x, int kernel, int stride, int padding, Tensor& y) {
  VIGIL_CHECK(&x != &y, "max_pool2d: output must not alias the input");
  const ImageShape s = GetImageShape(x, "max_pool2d");
  const std::pair<int64_t, int64_t> pooled = PooledSize(x, s, kernel, stride, padding, "max_pool2d");
  const int64_t oh = pooled.first, ow = pooled.second;  // plain names: lambdas capture them
  ResizeImageLike(x, s.c, oh, ow, y);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int threads = ThreadsFor(s.c * s.h * s.w * std::min(kernel, 4), NumThreads());
  ParallelFor(s.c, threads, [&](int64_t c_begin, int64_t c_end) {
    if (kernel == 2 && stride == 2 && padding == 0) {  // the encoders' downsampling
      for (int64_t c = c_begin; c < c_end; ++c) {
        const float* in = x.ptr() + c * s.h * s.w;
        float* out = y.ptr() + c * oh * ow;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const float* r0 = in + 2 * oy * s.w;
          const float* r1 = r0 + s.w;
          float* o = out + oy * ow;
          for (int64_t ox = 0; ox < ow; ++ox) {
            o[ox] = std::max(std::max(r0[2 * ox], r0[2 * ox + 1]),
                             std::max(r1[2 * ox], r1[2 * ox + 1]));
          }
        }
      }
      return;
    }
    // Separable: the max over a square window is the max over its rows of the row maxima.
    // Exact, and k + k instead of k * k comparisons per output (SuperPoint's NMS uses k = 9).
    std::vector<float> rows(static_cast<size_t>(s.h * ow));
    for (int64_t c = c_begin; c < c_end; ++c) {
      const float* in = x.ptr() + c * s.h * s.w;
      for (int64_t iy = 0; iy < s.h; ++iy) {
        const float* r = in + iy * s.w;
        float* o = rows.data() + iy * ow;
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = std::max<int64_t>(ox * stride - padding, 0);
          const int64_t x1 = std::min<int64_t>(ox * stride - padding + kernel, s.w);
          float m = kNegInf;
          for (int64_t ix = x0; ix < x1; ++ix) m = std::max(m, r[ix]);
          o[ox] = m;
        }
      }
      float* out = y.ptr() + c * oh * ow;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t y0 = std::max<int64_t>(oy * stride - padding, 0);
        const int64_t y1 = std::min<int64_t>(oy * stride - padding + kernel, s.h);
        float* o = out + oy * ow;
        std::fill(o, o + ow, kNegInf);
        for (int64_t iy = y0; iy < y1; ++iy) {
          const float* r = rows.data() + iy * ow;
          for (int64_t ox = 0; ox < ow; ++ox) o[ox] = std::max(o[ox], r[ox]);
        }
      }
    }
  });
}

Tensor AvgPool2d(const Tensor& x, int kernel, int stride, int padding, bool count_include_pad) {
  const ImageShape s = GetImageShape(x, "avg_pool2d");
  const std::pair<int64_t, int64_t> pooled = PooledSize(x, s, kernel, stride, padding, "avg_pool2d");
  const int64_t oh = pooled.first, ow = pooled.second;  // plain names: lambdas capture them
  Tensor y = MakeImageLike(x, s.c, oh, ow);
  for (int64_t c = 0; c < s.c; ++c) {
    const float* in = x.ptr() + c * s.h * s.w;
    float* out = y.ptr() + c * oh * ow;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t ys = oy * stride - padding;
      const int64_t y0 = std::max<int64_t>(ys, 0), y1 = std::min<int64_t>(ys + kernel, s.h);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t xs = ox * stride - padding;
        const int64_t x0 = std::max<int64_t>(xs, 0), x1 = std::min<int64_t>(xs + kernel, s.w);
        float sum = 0.f;
        for (int64_t iy = y0; iy < y1; ++iy) {
          for (int64_t ix = x0; ix < x1; ++ix) sum += in[iy * s.w + ix];
        }
        // torch's divisor with padding: the window clipped to the padded input, not the kernel.
        const int64_t pad_area = (std::min<int64_t>(ys + kernel, s.h + padding) - ys) *
                                 (std::min<int64_t>(xs + kernel, s.w + padding) - xs);
        const int64_t divisor = count_include_pad ? pad_area : (y1 - y0) * (x1 - x0);
        out[oy * ow + ox] = sum / static_cast<float>(divisor);
      }
    }
  }
  return y;
}

Tensor PixelShuffle(const Tensor& x, int r) {
  const ImageShape s = GetImageShape(x, "pixel_shuffle");
  VIGIL_CHECK(r >= 1 && s.c % (static_cast<int64_t>(r) * r) == 0,
              "pixel_shuffle: {} channels not divisible by {}^2", s.c, r);
  const int64_t oc = s.c / (r * r), oh = s.h * r, ow = s.w * r;
  Tensor y = MakeImageLike(x, oc, oh, ow);
  for (int64_t c = 0; c < oc; ++c) {
    for (int i = 0; i < r; ++i) {
      for (int j = 0; j < r; ++j) {
        const float* in = x.ptr() + ((c * r + i) * r + j) * s.h * s.w;
        float* out = y.ptr() + c * oh * ow;
        for (int64_t h = 0; h < s.h; ++h) {
          float* o = out + (h * r + i) * ow + j;
          const float* p = in + h * s.w;
          for (int64_t w = 0; w < s.w; ++w) o[w * r] = p[w];
        }
      }
    }
  }
  return y;
}

Tensor PixelUnshuffle(const Tensor& x, int r) {
  const ImageShape s = GetImageShape(x, "pixel_unshuffle");
  VIGIL_CHECK(r >= 1 && s.h % r == 0 && s.w % r == 0,
              "pixel_unshuffle: size {}x{} not divisible by {}", s.h, s.w, r);
  const int64_t oh = s.h / r, ow = s.w / r;
  Tensor y = MakeImageLike(x, s.c * r * r, oh, ow);
  for (int64_t c = 0; c < s.c; ++c) {
    for (int i = 0; i < r; ++i) {
      for (int j = 0; j < r; ++j) {
        float* out = y.ptr() + ((c * r + i) * r + j) * oh * ow;
        const float* in = x.ptr() + c * s.h * s.w;
        for (int64_t h = 0; h < oh; ++h) {
          const float* p = in + (h * r + i) * s.w + j;
          for (int64_t w = 0; w < ow; ++w) out[h * ow + w] = p[w * r];
        }
      }
    }
  }
  return y;
}

void SoftmaxChannels(Tensor& x) {
  const ImageShape s = GetImageShape(x, "softmax");
  const int64_t hw = s.h * s.w;
  std::vector<float> mx(static_cast<size_t>(hw), -std::numeric_limits<float>::infinity());
  std::vector<float> sum(static_cast<size_t>(hw), 0.f);
  float* d = x.ptr();
  // Plane by plane, so that the inner loops run over contiguous pixels.
  for (int64_t c = 0; c < s.c; ++c) {
    const float* p = d + c * hw;
    for (int64_t i = 0; i < hw; ++i) mx[i] = std::max(mx[i], p[i]);
  }
  for (int64_t c = 0; c < s.c; ++c) {
    float* p = d + c * hw;
    for (int64_t i = 0; i < hw; ++i) {
      p[i] = std::exp(p[i] - mx[i]);
      sum[i] += p[i];
    }
  }
  for (int64_t i = 0; i < hw; ++i) sum[i] = 1.f / sum[i];
  for (int64_t c = 0; c < s.c; ++c) {
    float* p = d + c * hw;
    for (int64_t i = 0; i < hw; ++i) p[i] *= sum[i];
  }
}

void L2NormalizeChannels(Tensor& x, float eps) {
  const ImageShape s = GetImageShape(x, "normalize");
  const int64_t hw = s.h * s.w;
  std::vector<float> norm(static_cast<size_t>(hw), 0.f);
  float* d = x.ptr();
  for (int64_t c = 0; c < s.c; ++c) {
    const float* p = d + c * hw;
    for (int64_t i = 0; i < hw; ++i) norm[i] += p[i] * p[i];
  }
  for (int64_t i = 0; i < hw; ++i) norm[i] = 1.f / std::max(std::sqrt(norm[i]), eps);
  for (int64_t c = 0; c < s.c; ++c) {
    float* p = d + c * hw;
    for (int64_t i = 0; i < hw; ++i) p[i] *= norm[i];
  }
}

void L2NormalizeRows(float* data, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* p = data + r * cols;
    float sq = 0.f;
    for (int64_t i = 0; i < cols; ++i) sq += p[i] * p[i];
    const float inv = 1.f / std::max(std::sqrt(sq), eps);
    for (int64_t i = 0; i < cols; ++i) p[i] *= inv;
  }
}

namespace {

// torch's grid_sampler_compute_source_index for bilinear (zeros / border padding).
float UnnormalizeCoord(float coord, int64_t size, bool align_corners, GridPadding padding) {
  float v = align_corners ? (coord + 1.f) / 2.f * static_cast<float>(size - 1)
                          : ((coord + 1.f) * static_cast<float>(size) - 1.f) / 2.f;
  if (padding == GridPadding::kBorder) v = std::clamp(v, 0.f, static_cast<float>(size - 1));
  return v;
}

}  // namespace

Tensor GridSampleBilinear(const Tensor& x, const float* grid_xy, int64_t count, bool align_corners,
                          GridPadding padding) {
  const ImageShape s = GetImageShape(x, "grid_sample");
  VIGIL_CHECK(count >= 0, "grid_sample: negative point count {}", count);
  Tensor y({s.c, count}, 0.f);
  const int64_t hw = s.h * s.w;
  for (int64_t n = 0; n < count; ++n) {
    const float ix = UnnormalizeCoord(grid_xy[2 * n], s.w, align_corners, padding);
    const float iy = UnnormalizeCoord(grid_xy[2 * n + 1], s.h, align_corners, padding);
    if (!std::isfinite(ix) || !std::isfinite(iy)) continue;  // torch also yields 0 here
    const int64_t x0 = static_cast<int64_t>(std::floor(ix));
    const int64_t y0 = static_cast<int64_t>(std::floor(iy));
    const float fx = ix - static_cast<float>(x0), fy = iy - static_cast<float>(y0);
    const int64_t xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
    const float wx[2] = {1.f - fx, fx}, wy[2] = {1.f - fy, fy};
    for (int a = 0; a < 2; ++a) {
      if (ys[a] < 0 || ys[a] >= s.h) continue;
      for (int b = 0; b < 2; ++b) {
        if (xs[b] < 0 || xs[b] >= s.w) continue;
        const float w = wy[a] * wx[b];
        const float* src = x.ptr() + ys[a] * s.w + xs[b];
        float* dst = y.ptr() + n;
        for (int64_t c = 0; c < s.c; ++c) dst[c * count] += w * src[c * hw];
      }
    }
  }
  return y;
}

Tensor ResizeBilinear(const Tensor& x, int out_h, int out_w, bool align_corners) {
  const ImageShape s = GetImageShape(x, "interpolate");
  VIGIL_CHECK(out_h >= 1 && out_w >= 1, "interpolate: bad output size {}x{}", out_h, out_w);
  Tensor y = MakeImageLike(x, s.c, out_h, out_w);
  // Per output coordinate: the two source indices and the weight of the second (torch's
  // area_pixel_compute_source_index, with the scale computed from the sizes).
  auto axis = [&](int64_t in, int64_t out, std::vector<int64_t>& i0, std::vector<int64_t>& i1,
                  std::vector<float>& lambda) {
    i0.resize(out);
    i1.resize(out);
    lambda.resize(out);
    const float scale = align_corners ? (out > 1 ? static_cast<float>(in - 1) / (out - 1) : 0.f)
                                      : static_cast<float>(in) / out;
    for (int64_t o = 0; o < out; ++o) {
      float src = align_corners ? scale * o : std::max(scale * (o + 0.5f) - 0.5f, 0.f);
      const int64_t a = std::min<int64_t>(static_cast<int64_t>(src), in - 1);
      i0[o] = a;
      i1[o] = std::min<int64_t>(a + 1, in - 1);
      lambda[o] = src - static_cast<float>(a);
    }
  };
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<float> ly, lx;
  axis(s.h, out_h, y0, y1, ly);
  axis(s.w, out_w, x0, x1, lx);
  for (int64_t c = 0; c < s.c; ++c) {
    const float* in = x.ptr() + c * s.h * s.w;
    float* out = y.ptr() + c * out_h * out_w;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const float* r0 = in + y0[oy] * s.w;
      const float* r1 = in + y1[oy] * s.w;
      const float b = ly[oy], a = 1.f - b;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const float d = lx[ox], e = 1.f - d;
        out[oy * out_w + ox] =
            a * (e * r0[x0[ox]] + d * r0[x1[ox]]) + b * (e * r1[x0[ox]] + d * r1[x1[ox]]);
      }
    }
  }
  return y;
}

Tensor Linear(const Tensor& x, const Tensor& weight, const Tensor* bias, Activation act,
              float alpha) {
  VIGIL_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out x in), got {}",
              weight.ShapeString());
  const int64_t out = weight.size(0), in = weight.size(1);
  VIGIL_CHECK((x.dim() == 1 || x.dim() == 2) && x.size(-1) == in,
              "linear: input {} does not match weight {}", x.ShapeString(), weight.ShapeString());
  VIGIL_CHECK(bias == nullptr || bias->numel() == out, "linear: bias has {} elements, expected {}",
              bias == nullptr ? 0 : bias->numel(), out);
  const int64_t rows = x.dim() == 1 ? 1 : x.size(0);
  Tensor y(x.dim() == 1 ? std::vector<int64_t>{out} : std::vector<int64_t>{rows, out});
  if (bias != nullptr) {
    for (int64_t r = 0; r < rows; ++r) std::copy(bias->data.begin(), bias->data.end(), y.ptr() + r * out);
  }
  Gemm(false, true, rows, out, in, 1.f, x.ptr(), in, weight.ptr(), in, bias != nullptr ? 1.f : 0.f,
       y.ptr(), out);
  ApplyActivation(act, y, alpha);
  return y;
}

}  // namespace vigil::nn
