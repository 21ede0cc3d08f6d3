#include "vigil/features/aliked_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <Eigen/Core>

#include "vigil/nn/gemm.h"
#include "vigil/nn/parallel.h"
#include "vigil/util/check.h"

namespace vigil::aliked {
namespace {

using nn::ParallelFor;

// Floats of im2col buffer per band: ~8 MB keeps it in L2/L3 while the GEMM streams it.
constexpr int64_t kBandFloats = int64_t{2} << 20;

int BandRows(int64_t rows_of_cols, int h, int w) {
  const int64_t per_row = std::max<int64_t>(1, rows_of_cols * w);
  return static_cast<int>(std::clamp<int64_t>(kBandFloats / per_row, 1, h));
}

// Bilinear sample (PyTorch grid_sample / torchvision semantics: each corner outside the map
// contributes 0): the four flat indices and weights, with weight 0 (index 0) for outside corners.
struct Bilinear {
  int64_t idx[4];
  float wt[4];
};

inline Bilinear MakeBilinear(float x, float y, int h, int w) {
  Bilinear b{};
  const float fx = std::floor(x), fy = std::floor(y);
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const float lx = x - fx, ly = y - fy;
  const float wts[4] = {(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx};
  const int xs[4] = {x0, x0 + 1, x0, x0 + 1};
  const int ys[4] = {y0, y0, y0 + 1, y0 + 1};
  for (int i = 0; i < 4; ++i) {
    const bool inside = xs[i] >= 0 && xs[i] < w && ys[i] >= 0 && ys[i] < h;
    b.idx[i] = inside ? static_cast<int64_t>(ys[i]) * w + xs[i] : 0;
    b.wt[i] = inside ? wts[i] : 0.f;
  }
  return b;
}

// 2-D max pooling, window 2r+1, stride 1, implicit -inf padding (separable).
void MaxPool(const float* in, int h, int w, int r, float* out, std::vector<float>& tmp) {
  tmp.resize(static_cast<size_t>(h) * w);
  for (int y = 0; y < h; ++y) {
    const float* row = in + static_cast<int64_t>(y) * w;
    float* t = tmp.data() + static_cast<int64_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      float m = -std::numeric_limits<float>::infinity();
      for (int i = std::max(0, x - r); i <= std::min(w - 1, x + r); ++i) m = std::max(m, row[i]);
      t[x] = m;
    }
  }
  for (int y = 0; y < h; ++y) {
    float* o = out + static_cast<int64_t>(y) * w;
    for (int x = 0; x < w; ++x) o[x] = -std::numeric_limits<float>::infinity();
    for (int j = std::max(0, y - r); j <= std::min(h - 1, y + r); ++j) {
      const float* t = tmp.data() + static_cast<int64_t>(j) * w;
      for (int x = 0; x < w; ++x) o[x] = std::max(o[x], t[x]);
    }
  }
}

}  // namespace

void SeluInPlace(float* data, int64_t count, int num_threads) {
  constexpr float kAlpha = 1.6732632423543772f, kScale = 1.0507009873554805f;
  constexpr int64_t kChunk = 1 << 16;
  ParallelFor((count + kChunk - 1) / kChunk, num_threads, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* d = data + c * kChunk;
      const int64_t len = std::min(kChunk, count - c * kChunk);
      // exp(x) for x <= 0 as Cephes' expf (2^n * polynomial, ~1 ulp) written so that the
      // compiler vectorises the loop; libm's expf is a call per element.
      for (int64_t i = 0; i < len; ++i) {
        const float x = d[i];
        const float xn = std::max(std::min(x, 0.f), -87.f);
        const float n = std::floor(xn * 1.44269504088896341f + 0.5f);
        const float r = xn - n * 0.693359375f - n * -2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        const float e = p * r * r + r + 1.f;
        const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
        float scale;
        std::memcpy(&scale, &bits, sizeof(scale));
        d[i] = x > 0.f ? kScale * x : (kScale * kAlpha) * (e * scale - 1.f);
      }
    }
  });
}

void FusedPointwiseSelu(const float* x, int64_t hw, int cin, const float* wg, int q,
                        const float* wt, int m, float* g_hwc, float* t_chw, int num_threads) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strided = Eigen::OuterStride<>;
  constexpr int64_t kTile = 256;
  const Eigen::Map<const RowMajor> w_g(wg, q, cin), w_t(wt, m, q);
  const int64_t tiles = (hw + kTile - 1) / kTile;
  ParallelFor(tiles, num_threads, [&](int64_t t0, int64_t t1) {
    RowMajor g(q, kTile);
    for (int64_t tile = t0; tile < t1; ++tile) {
      const int64_t p0 = tile * kTile, n = std::min(kTile, hw - p0);
      if (n != g.cols()) g.resize(q, n);
      const Eigen::Map<const RowMajor, 0, Strided> x_tile(x + p0, cin, n, Strided(hw));
      g.noalias() = w_g * x_tile;
      SeluInPlace(g.data(), g.size(), 1);
      Eigen::Map<RowMajor, 0, Strided> t_tile(t_chw + p0, m, n, Strided(hw));
      t_tile.noalias() = w_t * g;
      Eigen::Map<RowMajor>(g_hwc + p0 * q, n, q) = g.transpose();
    }
  });
}

nn::Tensor Conv3x3Direct(const nn::Tensor& x, const nn::Conv2dLayer& conv, int num_threads) {
  nn::Tensor y;
  Conv3x3Direct(x, conv, num_threads, y);
  return y;
}

void Conv3x3Direct(const nn::Tensor& x, const nn::Conv2dLayer& conv, int num_threads,
                   nn::Tensor& y) {
  VIGIL_CHECK(&x != &y, "conv3x3: output aliases input");
  const nn::ImageShape shape = nn::GetImageShape(x, "conv3x3");
  const int64_t cin = shape.c, h = shape.h, w = shape.w, cout = conv.weight.size(0);
  VIGIL_CHECK(conv.weight.dim() == 4 && conv.weight.size(1) == cin && conv.weight.size(2) == 3 &&
                  conv.weight.size(3) == 3,
              "conv3x3: weight {} does not fit a 3x3 conv on {} channels",
              conv.weight.ShapeString(), cin);
  nn::ResizeImageLike(x, cout, h, w, y);  // every element is written below
  const int64_t hw = h * w;
  const float* in = x.ptr();
  const float* wt = conv.weight.ptr();
  ParallelFor(h, num_threads, [&](int64_t y0, int64_t y1) {
    // One input row with a zero on each side, so the three taps of a row need no bounds checks.
    std::vector<float> row(static_cast<size_t>(w + 2), 0.f);
    for (int64_t oy = y0; oy < y1; ++oy) {
      for (int64_t o = 0; o < cout; ++o) {
        float* out = y.ptr() + o * hw + oy * w;
        const float b = conv.bias.numel() > 0 ? conv.bias.data[o] : 0.f;
        std::fill(out, out + w, b);
      }
      for (int64_t c = 0; c < cin; ++c) {
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t iy = oy + ky - 1;
          if (iy < 0 || iy >= h) continue;
          std::copy_n(in + c * hw + iy * w, w, row.data() + 1);
          const float* r = row.data();
          for (int64_t o = 0; o < cout; ++o) {
            const float* k = wt + ((o * cin + c) * 3 + ky) * 3;
            const float k0 = k[0], k1 = k[1], k2 = k[2];
            float* out = y.ptr() + o * hw + oy * w;
            for (int64_t ox = 0; ox < w; ++ox) {
              out[ox] += k0 * r[ox] + k1 * r[ox + 1] + k2 * r[ox + 2];
            }
          }
        }
      }
    }
  });
  if (conv.params.activation != nn::Activation::kNone) {
    nn::ApplyActivation(conv.params.activation, y, conv.params.activation_alpha);
  }
}

nn::Tensor DeformConv2d(const nn::Tensor& x, const nn::Conv2dLayer& offset_conv, float max_offset,
                        const nn::Conv2dLayer& conv, nn::Activation act, const nn::Tensor* residual,
                        int num_threads) {
  const nn::ImageShape shape = nn::GetImageShape(x, "deform_conv2d");
  const int h = static_cast<int>(shape.h), w = static_cast<int>(shape.w);
  const int64_t cin = shape.c, cout = conv.weight.size(0);
  VIGIL_CHECK(conv.weight.dim() == 4 && conv.weight.size(1) == cin && conv.weight.size(2) == 3 &&
                  conv.weight.size(3) == 3,
              "deform_conv2d: weight {} does not fit a 3x3 conv on {} channels",
              conv.weight.ShapeString(), cin);
  VIGIL_CHECK(offset_conv.weight.dim() == 4 && offset_conv.weight.size(0) == 18,
              "deform_conv2d: offset conv must give 18 channels, weight {}",
              offset_conv.weight.ShapeString());
  VIGIL_CHECK(residual == nullptr || residual->numel() == cout * h * w,
              "deform_conv2d: residual has {} elements, expected {}",
              residual == nullptr ? 0 : residual->numel(), cout * h * w);
  const int64_t hw = static_cast<int64_t>(h) * w;
  nn::Tensor offset_tensor = offset_conv.Forward(x);
  std::vector<float>& offsets = offset_tensor.data;
  for (float& o : offsets) o = std::clamp(o, -max_offset, max_offset);

  nn::Tensor y = nn::MakeImageLike(x, cout, h, w);
  const float* in = x.ptr();
  const int64_t rows = cin * 9;
  const int band = BandRows(rows, h, w);
  std::vector<float> cols(static_cast<size_t>(rows) * band * w);
  std::vector<Bilinear> taps(static_cast<size_t>(9) * band * w);
  for (int y0 = 0; y0 < h; y0 += band) {
    const int y1 = std::min(h, y0 + band);
    const int64_t n = static_cast<int64_t>(y1 - y0) * w;
    // Sampling positions and weights are shared by all input channels: compute them once.
    ParallelFor(n, num_threads, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t pix = static_cast<int64_t>(y0) * w + p;
        const int py = static_cast<int>(pix / w), px = static_cast<int>(pix % w);
        for (int t = 0; t < 9; ++t) {
          const float dy = offsets[(2 * t) * hw + pix];
          const float dx = offsets[(2 * t + 1) * hw + pix];
          const float sy = static_cast<float>(py - 1 + t / 3) + dy;
          const float sx = static_cast<float>(px - 1 + t % 3) + dx;
          Bilinear& b = taps[t * n + p];
          if (sy <= -1.f || sy >= static_cast<float>(h) || sx <= -1.f ||
              sx >= static_cast<float>(w)) {
            b = Bilinear{{0, 0, 0, 0}, {0.f, 0.f, 0.f, 0.f}};
          } else {
            b = MakeBilinear(sx, sy, h, w);
          }
        }
      }
    });
    ParallelFor(rows, num_threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r / 9, t = r % 9;
        const float* plane = in + c * hw;
        const Bilinear* tb = taps.data() + t * n;
        float* dst = cols.data() + r * n;
        for (int64_t p = 0; p < n; ++p) {
          const Bilinear& b = tb[p];
          dst[p] = b.wt[0] * plane[b.idx[0]] + b.wt[1] * plane[b.idx[1]] +
                   b.wt[2] * plane[b.idx[2]] + b.wt[3] * plane[b.idx[3]];
        }
      }
    });
    float* o = y.ptr() + static_cast<int64_t>(y0) * w;
    nn::Gemm(false, false, cout, n, rows, 1.f, conv.weight.ptr(), rows, cols.data(), n, 0.f, o, hw);
    const float* bias = conv.bias.numel() > 0 ? conv.bias.ptr() : nullptr;
    const float* res =
        residual != nullptr ? residual->ptr() + static_cast<int64_t>(y0) * w : nullptr;
    ParallelFor(cout, num_threads, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        float* oc = o + c * hw;
        const float b = bias != nullptr ? bias[c] : 0.f;
        for (int64_t p = 0; p < n; ++p) oc[p] += b;
        if (res != nullptr) {
          for (int64_t p = 0; p < n; ++p) oc[p] += res[c * hw + p];
        }
        if (act != nn::Activation::kSELU) nn::ApplyActivation(act, oc, n);
      }
    });
    if (act == nn::Activation::kSELU) {
      for (int64_t c = 0; c < cout; ++c) SeluInPlace(o + c * hw, n, num_threads);
    }
  }
  return y;
}

void AvgPool(const float* in, int c, int h, int w, int k, float* out, int num_threads) {
  const int oh = h / k, ow = w / k;
  const float inv = 1.f / static_cast<float>(k * k);
  ParallelFor(static_cast<int64_t>(c) * oh, num_threads, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ch = r / oh, oy = r % oh;
      const float* src = in + ch * h * w + oy * k * w;
      float* dst = out + r * ow;
      for (int ox = 0; ox < ow; ++ox) {
        float sum = 0.f;
        for (int dy = 0; dy < k; ++dy) {
          for (int dx = 0; dx < k; ++dx) sum += src[dy * w + ox * k + dx];
        }
        dst[ox] = sum * inv;
      }
    }
  });
}

UpsampleAxis::UpsampleAxis(int in_size, int out_size)
    : i0(out_size), i1(out_size), l0(out_size), l1(out_size) {
  const float scale =
      out_size > 1 ? static_cast<float>(in_size - 1) / static_cast<float>(out_size - 1) : 0.f;
  for (int o = 0; o < out_size; ++o) {
    const float real = scale * static_cast<float>(o);
    const int idx = std::min(static_cast<int>(real), in_size - 1);
    const float lambda = std::clamp(real - static_cast<float>(idx), 0.f, 1.f);
    i0[o] = idx;
    i1[o] = idx + (idx < in_size - 1 ? 1 : 0);
    l1[o] = lambda;
    l0[o] = 1.f - lambda;
  }
}

std::vector<float> SimpleNms(const float* scores, int h, int w, int radius) {
  const size_t n = static_cast<size_t>(h) * w;
  std::vector<float> pooled(n), tmp, supp_scores(n), mask_f(n);
  std::vector<uint8_t> max_mask(n), supp(n);
  MaxPool(scores, h, w, radius, pooled.data(), tmp);
  for (size_t i = 0; i < n; ++i) max_mask[i] = scores[i] == pooled[i];
  for (int iter = 0; iter < 2; ++iter) {
    for (size_t i = 0; i < n; ++i) mask_f[i] = max_mask[i] ? 1.f : 0.f;
    MaxPool(mask_f.data(), h, w, radius, pooled.data(), tmp);
    for (size_t i = 0; i < n; ++i) {
      supp[i] = pooled[i] > 0.f;
      supp_scores[i] = supp[i] ? 0.f : scores[i];
    }
    MaxPool(supp_scores.data(), h, w, radius, pooled.data(), tmp);
    for (size_t i = 0; i < n; ++i) {
      const bool new_max = supp_scores[i] == pooled[i];
      max_mask[i] = max_mask[i] || (new_max && !supp[i]);
    }
  }
  std::vector<float> result(n);
  for (size_t i = 0; i < n; ++i) result[i] = max_mask[i] ? scores[i] : 0.f;
  return result;
}

DkdResult DetectKeypoints(const float* scores, int h, int w, const DkdOptions& options) {
  const int r = options.radius;
  if (h <= 2 * r || w <= 2 * r) return {};  // every pixel is within the border
  std::vector<float> nms = SimpleNms(scores, h, w, r);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (y < r || x < r || y >= h - r || x >= w - r) nms[static_cast<size_t>(y) * w + x] = 0.f;
    }
  }
  const int64_t n = static_cast<int64_t>(h) * w;
  std::vector<int64_t> indices;
  auto by_score = [&](const std::vector<float>& s) {
    return [&s](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
  };
  if (options.top_k > 0) {
    const int64_t k = std::min<int64_t>(options.top_k, n);
    indices.resize(static_cast<size_t>(n));
    std::iota(indices.begin(), indices.end(), 0);
    std::partial_sort(indices.begin(), indices.begin() + k, indices.end(), by_score(nms));
    indices.resize(static_cast<size_t>(k));
    // torch.topk would pad with suppressed (zero) pixels when there are fewer than k maxima;
    // those are not keypoints.
    while (!indices.empty() && nms[indices.back()] <= 0.f) indices.pop_back();
  } else {
    float th = options.scores_th;
    bool any = false;
    if (th > 0) {
      for (int64_t i = 0; i < n && !any; ++i) any = nms[i] > th;
    }
    if (!any) {  // the reference falls back to the mean of the score map
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += scores[i];
      th = static_cast<float>(sum / static_cast<double>(n));
    }
    for (int64_t i = 0; i < n; ++i) {
      if (nms[i] > th) indices.push_back(i);
    }
    if (static_cast<int64_t>(indices.size()) > options.n_limit) {
      std::vector<float> s(scores, scores + n);
      std::stable_sort(indices.begin(), indices.end(), by_score(s));
      indices.resize(static_cast<size_t>(options.n_limit));
    }
  }

  DkdResult result;
  const int m = static_cast<int>(indices.size());
  result.xy.resize(static_cast<size_t>(m) * 2);
  result.scores.resize(static_cast<size_t>(m));
  const float wm1 = static_cast<float>(w - 1), hm1 = static_cast<float>(h - 1);
  const int ks = 2 * r + 1;
  std::vector<float> patch(static_cast<size_t>(ks) * ks);
  for (int i = 0; i < m; ++i) {
    const int64_t idx = indices[i];
    const int cx = static_cast<int>(idx % w), cy = static_cast<int>(idx / w);
    // Soft-argmax over the (2r+1)^2 window (zero padding outside, as nn.Unfold).
    float max_v = -std::numeric_limits<float>::infinity();
    for (int dy = -r; dy <= r; ++dy) {
      for (int dx = -r; dx <= r; ++dx) {
        const int y = cy + dy, x = cx + dx;
        const float v =
            (y >= 0 && y < h && x >= 0 && x < w) ? scores[static_cast<int64_t>(y) * w + x] : 0.f;
        patch[(dy + r) * ks + (dx + r)] = v;
        max_v = std::max(max_v, v);
      }
    }
    float sum = 0.f, sx = 0.f, sy = 0.f;
    for (int dy = -r; dy <= r; ++dy) {
      for (int dx = -r; dx <= r; ++dx) {
        const float e = std::exp((patch[(dy + r) * ks + (dx + r)] - max_v) / options.temperature);
        sum += e;
        sx += e * static_cast<float>(dx);
        sy += e * static_cast<float>(dy);
      }
    }
    // The reference maps to [-1, 1] and back; doing the same float steps keeps its rounding.
    const float nx = (static_cast<float>(cx) + sx / sum) / wm1 * 2.f - 1.f;
    const float ny = (static_cast<float>(cy) + sy / sum) / hm1 * 2.f - 1.f;
    const float x = wm1 * (nx + 1.f) / 2.f, y = hm1 * (ny + 1.f) / 2.f;
    result.xy[2 * i] = x;
    result.xy[2 * i + 1] = y;
    const float gx = (nx + 1.f) / 2.f * wm1, gy = (ny + 1.f) / 2.f * hm1;
    const Bilinear b = MakeBilinear(gx, gy, h, w);
    result.scores[i] = b.wt[0] * scores[b.idx[0]] + b.wt[1] * scores[b.idx[1]] +
                       b.wt[2] * scores[b.idx[2]] + b.wt[3] * scores[b.idx[3]];
  }
  return result;
}

std::vector<float> SddhDescriptors(const FeatureLookup& lookup, int h, int w,
                                   const std::vector<float>& xy, const SddhWeights& weights,
                                   int num_threads) {
  const int n = static_cast<int>(xy.size() / 2);
  const int dim = weights.dim, kk = weights.kernel, m = weights.num_samples;
  std::vector<float> desc(static_cast<size_t>(n) * dim);
  if (n == 0) return desc;
  const float wm1 = static_cast<float>(w - 1), hm1 = static_cast<float>(h - 1);
  const float max_offset = static_cast<float>(std::max(h, w)) / 4.f;
  const int pad = (kk - 1) / 2;  // floor((K - 1) / 2): the authors' get_patches

  // 1. Offsets from the K x K patch at the truncated keypoint (zeros outside the map).
  const int64_t patch_len = static_cast<int64_t>(dim) * kk * kk;
  std::vector<float> patches(static_cast<size_t>(n) * patch_len);
  ParallelFor(n, num_threads, [&](int64_t i0, int64_t i1) {
    std::vector<float> f(dim);
    for (int64_t i = i0; i < i1; ++i) {
      const int kx = static_cast<int>(xy[2 * i]), ky = static_cast<int>(xy[2 * i + 1]);
      float* p = patches.data() + i * patch_len;
      for (int py = 0; py < kk; ++py) {
        for (int px = 0; px < kk; ++px) {
          const int x = kx - pad + px, y = ky - pad + py;
          const bool inside = x >= 0 && x < w && y >= 0 && y < h;
          if (inside) lookup(x, y, f.data());
          for (int c = 0; c < dim; ++c) p[c * kk * kk + py * kk + px] = inside ? f[c] : 0.f;
        }
      }
    }
  });
  const int m2 = 2 * m;
  std::vector<float> hidden(static_cast<size_t>(n) * m2), offsets(hidden.size());
  nn::Gemm(false, true, n, m2, patch_len, 1.f, patches.data(), patch_len,
           weights.offset0_weight.ptr(), patch_len, 0.f, hidden.data(), m2);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < m2; ++j) hidden[i * m2 + j] += weights.offset0_bias.data[j];
  }
  SeluInPlace(hidden.data(), static_cast<int64_t>(hidden.size()), num_threads);
  nn::Gemm(false, true, n, m2, m2, 1.f, hidden.data(), m2, weights.offset1_weight.ptr(), m2, 0.f,
           offsets.data(), m2);

  // 2. Bilinear samples of the normalised feature map at keypoint + offset: N*M x dim.
  std::vector<float> samples(static_cast<size_t>(n) * m * dim);
  ParallelFor(n, num_threads, [&](int64_t i0, int64_t i1) {
    std::vector<float> corner(dim);
    for (int64_t i = i0; i < i1; ++i) {
      // kptsi_wh of the reference: (kpt / 2 + 0.5) * wh from the normalised keypoint.
      const float nx = xy[2 * i] / wm1 * 2.f - 1.f, ny = xy[2 * i + 1] / hm1 * 2.f - 1.f;
      const float kx = (nx / 2.f + 0.5f) * wm1, ky = (ny / 2.f + 0.5f) * hm1;
      for (int p = 0; p < m; ++p) {
        const float ox =
            std::clamp(offsets[i * m2 + p] + weights.offset1_bias.data[p], -max_offset, max_offset);
        const float oy = std::clamp(offsets[i * m2 + m + p] + weights.offset1_bias.data[m + p],
                                    -max_offset, max_offset);
        const float gx = 2.f * (kx + ox) / wm1 - 1.f, gy = 2.f * (ky + oy) / hm1 - 1.f;
        const float sx = (gx + 1.f) / 2.f * wm1, sy = (gy + 1.f) / 2.f * hm1;
        const float fx = std::floor(sx), fy = std::floor(sy);
        const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
        const float lx = sx - fx, ly = sy - fy;
        float* dst = samples.data() + (i * m + p) * dim;
        std::fill(dst, dst + dim, 0.f);
        const float wts[4] = {(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx};
        for (int c4 = 0; c4 < 4; ++c4) {
          const int x = x0 + (c4 & 1), y = y0 + (c4 >> 1);
          if (x < 0 || x >= w || y < 0 || y >= h) continue;
          lookup(x, y, corner.data());
          for (int c = 0; c < dim; ++c) dst[c] += wts[c4] * corner[c];
        }
      }
    }
  });

  // 3. 1x1 conv + SELU per sample, then aggregation: desc = [N x M*dim] * [M*dim x dim].
  std::vector<float> sf(samples.size());
  nn::Gemm(false, true, static_cast<int64_t>(n) * m, dim, dim, 1.f, samples.data(), dim,
           weights.sf_conv.ptr(), dim, 0.f, sf.data(), dim);
  SeluInPlace(sf.data(), static_cast<int64_t>(sf.size()), num_threads);
  nn::Gemm(false, false, n, dim, static_cast<int64_t>(m) * dim, 1.f, sf.data(),
           static_cast<int64_t>(m) * dim, weights.agg.ptr(), dim, 0.f, desc.data(), dim);
  nn::L2NormalizeRows(desc.data(), n, dim);
  return desc;
}

}  // namespace vigil::aliked
