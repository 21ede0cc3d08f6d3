#include "vigil/nn/winograd.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "vigil/nn/gemm.h"
#include "vigil/nn/parallel.h"
#include "vigil/util/check.h"

namespace vigil::nn {
namespace {

// Per thread, the transformed inputs (16 x C_in x T) and products (16 x C_out x T) of one band
// of T tiles; sized to stay in the last-level cache, with at least a few hundred tiles so that
// the GEMMs keep their efficiency.
constexpr int64_t kBandBytes = 4 << 20;
constexpr int64_t kMinBandTiles = 256;
// F(4x4, 3x3) only pays off on maps wide enough for many 4-wide tiles per band: measured on
// SuperPoint's layers, it is ~1.5x faster than F(2x2, 3x3) at 160 to 640 wide, slower at 80.
constexpr int64_t kMinF4Width = 128;

// U[xi][co][ci] = (G g G^T)[xi] for each 3x3 kernel g, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
std::vector<float> TransformWeights(const Tensor& weight) {
  const int64_t cout = weight.size(0), cin = weight.size(1);
  std::vector<float> u(static_cast<size_t>(16 * cout * cin));
  for (int64_t co = 0; co < cout; ++co) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      const float* g = weight.ptr() + (co * cin + ci) * 9;
      float t[3][4];  // g G^T
      for (int i = 0; i < 3; ++i) {
        const float a = g[i * 3], b = g[i * 3 + 1], c = g[i * 3 + 2];
        t[i][0] = a;
        t[i][1] = 0.5f * (a + b + c);
        t[i][2] = 0.5f * (a - b + c);
        t[i][3] = c;
      }
      for (int l = 0; l < 4; ++l) {
        const float a = t[0][l], b = t[1][l], c = t[2][l];
        const float col[4] = {a, 0.5f * (a + b + c), 0.5f * (a - b + c), c};
        for (int k = 0; k < 4; ++k) u[((k * 4 + l) * cout + co) * cin + ci] = col[k];
      }
    }
  }
  return u;
}


// F(4x4, 3x3): U = G g G^T with G (6 x 3) below, computed in double; layout [36][C_out][C_in].
std::vector<float> TransformWeightsF4(const Tensor& weight) {
  static const double kG[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  const int64_t cout = weight.size(0), cin = weight.size(1);
  std::vector<float> u(static_cast<size_t>(36 * cout * cin));
  for (int64_t co = 0; co < cout; ++co) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      const float* g = weight.ptr() + (co * cin + ci) * 9;
      double gg[6][3];  // G g
      for (int k = 0; k < 6; ++k) {
        for (int j = 0; j < 3; ++j) {
          gg[k][j] = kG[k][0] * g[j] + kG[k][1] * g[3 + j] + kG[k][2] * g[6 + j];
        }
      }
      for (int k = 0; k < 6; ++k) {
        for (int l = 0; l < 6; ++l) {
          const double v = gg[k][0] * kG[l][0] + gg[k][1] * kG[l][1] + gg[k][2] * kG[l][2];
          u[((k * 6 + l) * cout + co) * cin + ci] = static_cast<float>(v);
        }
      }
    }
  }
  return u;
}

// out[i][t] = (B^T e)[i] for the six inputs e_r = in[r * in_stride + t], t in [0, n), with
// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
inline void InputTransform6(const float* __restrict in, int64_t in_stride, float* __restrict out,
                            int64_t out_stride, int64_t n) {
  const float* e0 = in;
  const float* e1 = in + in_stride;
  const float* e2 = e1 + in_stride;
  const float* e3 = e2 + in_stride;
  const float* e4 = e3 + in_stride;
  const float* e5 = e4 + in_stride;
#pragma GCC ivdep
  for (int64_t t = 0; t < n; ++t) {
    const float a = e1[t], b = e2[t], c = e3[t], d = e4[t];
    out[t] = 4.f * e0[t] - 5.f * b + d;
    out[out_stride + t] = -4.f * (a + b) + c + d;
    out[2 * out_stride + t] = 4.f * (a - b) - c + d;
    out[3 * out_stride + t] = 2.f * (c - a) - b + d;
    out[4 * out_stride + t] = 2.f * (a - c) - b + d;
    out[5 * out_stride + t] = 4.f * a - 5.f * c + e5[t];
  }
}

// out[o][t] = (A^T m)[o] for the six inputs m_k = in[k * in_stride + t], with
// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
inline void OutputTransform6(const float* __restrict in, int64_t in_stride, float* __restrict out,
                             int64_t out_stride, int64_t n) {
  const float* m0 = in;
  const float* m1 = in + in_stride;
  const float* m2 = m1 + in_stride;
  const float* m3 = m2 + in_stride;
  const float* m4 = m3 + in_stride;
  const float* m5 = m4 + in_stride;
#pragma GCC ivdep
  for (int64_t t = 0; t < n; ++t) {
    const float s12 = m1[t] + m2[t], d12 = m1[t] - m2[t];
    const float s34 = m3[t] + m4[t], d34 = m3[t] - m4[t];
    out[t] = m0[t] + s12 + s34;
    out[out_stride + t] = d12 + 2.f * d34;
    out[2 * out_stride + t] = s12 + 4.f * s34;
    out[3 * out_stride + t] = d12 + 8.f * d34 + m5[t];
  }
}

// F(4x4, 3x3) (Lavin & Gray): 36 multiplies per 4x4 output tile and channel pair instead of
// 144; same band structure as the F(2x2, 3x3) code below.
void WinogradF4(const Tensor& x, const Tensor& weight, const float* bias, const Conv2dParams& p,
                Tensor& y) {
  const ImageShape s = GetImageShape(x, "conv2d");
  const ImageShape o = GetImageShape(y, "conv2d");
  const int64_t cin = s.c, cout = o.c, out_h = o.h, out_w = o.w;
  const int64_t tiles_w = (out_w + 3) / 4, tiles_h = (out_h + 3) / 4;
  const std::vector<float> u = TransformWeightsF4(weight);
  const int64_t per_tile = 36 * (cin + cout) * static_cast<int64_t>(sizeof(float));
  const int64_t band_tiles = std::max(kBandBytes / per_tile, kMinBandTiles / 2);
  const int64_t band_rows = std::clamp<int64_t>(band_tiles / tiles_w, 1, tiles_h);
  const int64_t num_bands = (tiles_h + band_rows - 1) / band_rows;
  const int threads = std::max(1, NumThreads());

  auto run_bands = [&](const NextItem& next) {
    const int64_t max_t = band_rows * tiles_w;
    const int64_t rows_in = 4 * band_rows + 2;
    // One channel's band of zero-padded input rows split into 4 column phases: padded column
    // 4k + q is phase[q][k], so the tile starting at column 4 tx reads phase[0..3][tx] and
    // phase[0..1][tx + 1], all contiguous in tx.
    const int64_t half = tiles_w + 1;
    std::vector<float> phase(static_cast<size_t>(rows_in * 4 * half));
    std::vector<float> tmp(static_cast<size_t>(36 * tiles_w));
    const std::unique_ptr<float[]> v(new float[static_cast<size_t>(36 * cin * max_t)]);
    const std::unique_ptr<float[]> m(new float[static_cast<size_t>(36 * cout * max_t)]);
    std::vector<float> rowbuf(static_cast<size_t>(4 * 4 * tiles_w));
    for (int64_t band; (band = next()) >= 0;) {
      const int64_t ty0 = band * band_rows;
      const int64_t rows = std::min(band_rows, tiles_h - ty0);
      const int64_t t_count = rows * tiles_w;
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float* plane = x.ptr() + ci * s.h * s.w;
        const int64_t iy0 = 4 * ty0 - p.pad_h;
        for (int64_t r = 0; r < 4 * rows + 2; ++r) {
          float* ph = phase.data() + r * 4 * half;
          const int64_t iy = iy0 + r;
          if (iy < 0 || iy >= s.h) {
            std::fill(ph, ph + 4 * half, 0.f);
            continue;
          }
          const float* src = plane + iy * s.w - p.pad_w;  // src[c] = padded column c
          const int64_t k_lo = std::min<int64_t>((p.pad_w + 3) / 4, half);      // 4k >= pad_w
          const int64_t k_hi = std::clamp<int64_t>((s.w + p.pad_w - 3) / 4, k_lo, half);
          for (int64_t k = 0; k < half; ++k) {
            if (k == k_lo) k = k_hi;  // the interior is done below without bounds checks
            if (k >= half) break;
            for (int q = 0; q < 4; ++q) {
              const int64_t xi = 4 * k + q - p.pad_w;
              ph[q * half + k] = xi >= 0 && xi < s.w ? src[4 * k + q] : 0.f;
            }
          }
          for (int64_t k = k_lo; k < k_hi; ++k) {  // 4k + 3 < s.w + pad_w: all inside
            ph[k] = src[4 * k];
            ph[half + k] = src[4 * k + 1];
            ph[2 * half + k] = src[4 * k + 2];
            ph[3 * half + k] = src[4 * k + 3];
          }
        }
        const int64_t stride = cin * t_count;  // between the 36 transform components
        for (int64_t j = 0; j < rows; ++j) {
          // Rows: tmp[r * 6 + l] = (d B)[r][l] for the 6 input rows of tile row j.
          for (int r = 0; r < 6; ++r) {
            const float* ph = phase.data() + (4 * j + r) * 4 * half;
            const float* c0 = ph;
            const float* c1 = ph + half;
            const float* c2 = ph + 2 * half;
            const float* c3 = ph + 3 * half;
            float* t = tmp.data() + r * 6 * tiles_w;
#pragma GCC ivdep
            for (int64_t tx = 0; tx < tiles_w; ++tx) {
              const float d0 = c0[tx], d1 = c1[tx], d2 = c2[tx], d3 = c3[tx];
              const float d4 = c0[tx + 1], d5 = c1[tx + 1];
              t[tx] = 4.f * d0 - 5.f * d2 + d4;
              t[tiles_w + tx] = -4.f * (d1 + d2) + d3 + d4;
              t[2 * tiles_w + tx] = 4.f * (d1 - d2) - d3 + d4;
              t[3 * tiles_w + tx] = 2.f * (d3 - d1) - d2 + d4;
              t[4 * tiles_w + tx] = 2.f * (d1 - d3) - d2 + d4;
              t[5 * tiles_w + tx] = 4.f * d1 - 5.f * d3 + d5;
            }
          }
          // Columns: V[k * 6 + l] = (B^T (d B))[k][l].
          float* vt = v.get() + ci * t_count + j * tiles_w;
          for (int l = 0; l < 6; ++l) {
            InputTransform6(tmp.data() + l * tiles_w, 6 * tiles_w, vt + l * stride, 6 * stride,
                            tiles_w);
          }
        }
      }
      for (int xi = 0; xi < 36; ++xi) {
        Gemm(false, false, cout, t_count, cin, 1.f, u.data() + xi * cout * cin, cin,
             v.get() + xi * cin * t_count, t_count, 0.f, m.get() + xi * cout * t_count, t_count);
      }
      const int64_t stride = cout * t_count;
      for (int64_t co = 0; co < cout; ++co) {
        const float bv = bias != nullptr ? bias[co] : 0.f;
        float* out = y.ptr() + co * out_h * out_w;
        for (int64_t j = 0; j < rows; ++j) {
          const float* mt = m.get() + co * t_count + j * tiles_w;
          // tmp[k * 4 + o] = (M A)[k][o] (4 of the 6 slots per k used), then Y = A^T (M A).
          for (int k = 0; k < 6; ++k) {
            OutputTransform6(mt + k * 6 * stride, stride, tmp.data() + k * 6 * tiles_w, tiles_w,
                             tiles_w);
          }
          float* yo = rowbuf.data();  // yo[(pr * 4 + oc) * tiles_w + tx] = Y[pr][oc]
          for (int oc = 0; oc < 4; ++oc) {
            OutputTransform6(tmp.data() + oc * tiles_w, 6 * tiles_w, yo + oc * tiles_w,
                             4 * tiles_w, tiles_w);
          }
          for (int pr = 0; pr < 4; ++pr) {
            const int64_t oy = 4 * (ty0 + j) + pr;
            if (oy >= out_h) break;
            float* dst = out + oy * out_w;
            const float* yr = yo + pr * 4 * tiles_w;
            const int64_t full = out_w / 4;
            for (int64_t tx = 0; tx < full; ++tx) {
              dst[4 * tx] = yr[tx] + bv;
              dst[4 * tx + 1] = yr[tiles_w + tx] + bv;
              dst[4 * tx + 2] = yr[2 * tiles_w + tx] + bv;
              dst[4 * tx + 3] = yr[3 * tiles_w + tx] + bv;
            }
            for (int64_t ox = 4 * full; ox < out_w; ++ox) {
              dst[ox] = yr[(ox % 4) * tiles_w + ox / 4] + bv;
            }
            ApplyActivation(p.activation, dst, out_w, p.activation_alpha);
          }
        }
      }
    }
  };
  ParallelBandsWithSerialGemm(num_bands, threads, 2, run_bands);
}

}  // namespace

bool WinogradApplies(const Tensor& weight, const Conv2dParams& p) {
  return weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 && p.stride_h == 1 &&
         p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 && p.groups == 1;
}

void WinogradConv3x3(const Tensor& x, const Tensor& weight, const float* bias,
                     const Conv2dParams& p, Tensor& y) {
  VIGIL_CHECK(WinogradApplies(weight, p), "winograd: needs a 3x3 stride-1 ungrouped convolution");
  if (p.winograd_f4 && y.size(-1) >= kMinF4Width) {
    WinogradF4(x, weight, bias, p, y);
    return;
  }
  const ImageShape s = GetImageShape(x, "conv2d");
  const ImageShape o = GetImageShape(y, "conv2d");
  const int64_t cin = s.c, cout = o.c, out_h = o.h, out_w = o.w;
  const int64_t tiles_w = (out_w + 1) / 2, tiles_h = (out_h + 1) / 2;
  const std::vector<float> u = TransformWeights(weight);

  const int64_t per_tile = 16 * (cin + cout) * static_cast<int64_t>(sizeof(float));
  const int64_t band_tiles = std::max(kBandBytes / per_tile, kMinBandTiles);
  const int64_t band_rows = std::clamp<int64_t>(band_tiles / tiles_w, 1, tiles_h);
  const int64_t num_bands = (tiles_h + band_rows - 1) / band_rows;
  const int threads = std::max(1, NumThreads());

  auto run_bands = [&](const NextItem& next) {
    const int64_t max_t = band_rows * tiles_w;
    const int64_t rows_in = 2 * band_rows + 2;
    // One channel's band of input rows, zero-padded and split into even and odd columns so that
    // the transforms below read contiguous memory and vectorise (tile tx starts at column 2 tx).
    const int64_t half = tiles_w + 1;
    std::vector<float> even(static_cast<size_t>(rows_in * half));
    std::vector<float> odd(even.size());
    // Scratch that is fully overwritten before use: left uninitialised (no memset per call).
    const std::unique_ptr<float[]> v(new float[static_cast<size_t>(16 * cin * max_t)]);
    const std::unique_ptr<float[]> m(new float[static_cast<size_t>(16 * cout * max_t)]);
    std::vector<float> y4(static_cast<size_t>(4 * tiles_w));
    std::vector<float> row0(static_cast<size_t>(2 * tiles_w)), row1(row0.size());
    for (int64_t band; (band = next()) >= 0;) {
      const int64_t ty0 = band * band_rows;
      const int64_t rows = std::min(band_rows, tiles_h - ty0);
      const int64_t t_count = rows * tiles_w;
      // Input transform V = B^T d B per 4x4 patch, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float* plane = x.ptr() + ci * s.h * s.w;
        const int64_t iy0 = 2 * ty0 - p.pad_h;
        for (int64_t r = 0; r < 2 * rows + 2; ++r) {
          float* e = even.data() + r * half;
          float* o = odd.data() + r * half;
          const int64_t iy = iy0 + r;
          if (iy < 0 || iy >= s.h) {
            std::fill(e, e + half, 0.f);
            std::fill(o, o + half, 0.f);
            continue;
          }
          // Padded column 2c (+1) is input column 2c (+1) - pad_w; zero outside the image.
          const float* src = plane + iy * s.w - p.pad_w;
          const int64_t c_lo = std::min<int64_t>((p.pad_w + 1) / 2, half);  // 2c >= pad_w
          const int64_t c_hi = std::clamp<int64_t>((s.w + p.pad_w - 1) / 2, c_lo, half);
          for (int64_t c = 0; c < c_lo; ++c) {
            const int64_t x0 = 2 * c - p.pad_w, x1 = x0 + 1;
            e[c] = x0 >= 0 && x0 < s.w ? src[2 * c] : 0.f;
            o[c] = x1 >= 0 && x1 < s.w ? src[2 * c + 1] : 0.f;
          }
          for (int64_t c = c_lo; c < c_hi; ++c) {  // 2c + 1 < s.w + pad_w: both inside
            e[c] = src[2 * c];
            o[c] = src[2 * c + 1];
          }
          for (int64_t c = c_hi; c < half; ++c) {
            const int64_t x0 = 2 * c - p.pad_w, x1 = x0 + 1;
            e[c] = x0 >= 0 && x0 < s.w ? src[2 * c] : 0.f;
            o[c] = x1 >= 0 && x1 < s.w ? src[2 * c + 1] : 0.f;
          }
        }
        const int64_t stride = cin * t_count;  // between the 16 transform components
        for (int64_t j = 0; j < rows; ++j) {
          const float* e0 = even.data() + (2 * j) * half;
          const float* e1 = e0 + half;
          const float* e2 = e1 + half;
          const float* e3 = e2 + half;
          const float* o0 = odd.data() + (2 * j) * half;
          const float* o1 = o0 + half;
          const float* o2 = o1 + half;
          const float* o3 = o2 + half;
          float* vt = v.get() + ci * t_count + j * tiles_w;
#pragma GCC ivdep
          for (int64_t tx = 0; tx < tiles_w; ++tx) {
            // d B for the 4 rows: columns c..c+3 are e[tx], o[tx], e[tx+1], o[tx+1].
            const float a0 = e0[tx] - e0[tx + 1], a1 = o0[tx] + e0[tx + 1];
            const float a2 = e0[tx + 1] - o0[tx], a3 = o0[tx] - o0[tx + 1];
            const float b0 = e1[tx] - e1[tx + 1], b1 = o1[tx] + e1[tx + 1];
            const float b2 = e1[tx + 1] - o1[tx], b3 = o1[tx] - o1[tx + 1];
            const float c0 = e2[tx] - e2[tx + 1], c1 = o2[tx] + e2[tx + 1];
            const float c2 = e2[tx + 1] - o2[tx], c3 = o2[tx] - o2[tx + 1];
            const float d0 = e3[tx] - e3[tx + 1], d1 = o3[tx] + e3[tx + 1];
            const float d2 = e3[tx + 1] - o3[tx], d3 = o3[tx] - o3[tx + 1];
            // B^T applied to the rows (a, b, c, d).
            vt[0 * stride + tx] = a0 - c0;
            vt[1 * stride + tx] = a1 - c1;
            vt[2 * stride + tx] = a2 - c2;
            vt[3 * stride + tx] = a3 - c3;
            vt[4 * stride + tx] = b0 + c0;
            vt[5 * stride + tx] = b1 + c1;
            vt[6 * stride + tx] = b2 + c2;
            vt[7 * stride + tx] = b3 + c3;
            vt[8 * stride + tx] = c0 - b0;
            vt[9 * stride + tx] = c1 - b1;
            vt[10 * stride + tx] = c2 - b2;
            vt[11 * stride + tx] = c3 - b3;
            vt[12 * stride + tx] = b0 - d0;
            vt[13 * stride + tx] = b1 - d1;
            vt[14 * stride + tx] = b2 - d2;
            vt[15 * stride + tx] = b3 - d3;
          }
        }
      }
      // 16 independent products M[xi] = U[xi] V[xi].
      for (int xi = 0; xi < 16; ++xi) {
        Gemm(false, false, cout, t_count, cin, 1.f, u.data() + xi * cout * cin, cin,
             v.get() + xi * cin * t_count, t_count, 0.f, m.get() + xi * cout * t_count,
             t_count);
      }
      // Output transform Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], then bias and activation.
      const int64_t stride = cout * t_count;
      float* y00 = y4.data();
      float* y01 = y00 + tiles_w;
      float* y10 = y01 + tiles_w;
      float* y11 = y10 + tiles_w;
      for (int64_t co = 0; co < cout; ++co) {
        const float bv = bias != nullptr ? bias[co] : 0.f;
        float* out = y.ptr() + co * out_h * out_w;
        for (int64_t j = 0; j < rows; ++j) {
          const float* mt = m.get() + co * t_count + j * tiles_w;
#pragma GCC ivdep
          for (int64_t tx = 0; tx < tiles_w; ++tx) {
            float t[4][2];
            for (int k = 0; k < 4; ++k) {
              const float m0 = mt[(k * 4 + 0) * stride + tx], m1 = mt[(k * 4 + 1) * stride + tx];
              const float m2 = mt[(k * 4 + 2) * stride + tx], m3 = mt[(k * 4 + 3) * stride + tx];
              t[k][0] = m0 + m1 + m2;
              t[k][1] = m1 - m2 - m3;
            }
            y00[tx] = t[0][0] + t[1][0] + t[2][0] + bv;
            y01[tx] = t[0][1] + t[1][1] + t[2][1] + bv;
            y10[tx] = t[1][0] - t[2][0] - t[3][0] + bv;
            y11[tx] = t[1][1] - t[2][1] - t[3][1] + bv;
          }
          for (int64_t tx = 0; tx < tiles_w; ++tx) {
            row0[2 * tx] = y00[tx];
            row0[2 * tx + 1] = y01[tx];
            row1[2 * tx] = y10[tx];
            row1[2 * tx + 1] = y11[tx];
          }
          const int64_t oy = 2 * (ty0 + j);
          ApplyActivation(p.activation, row0.data(), out_w, p.activation_alpha);
          std::memcpy(out + oy * out_w, row0.data(), sizeof(float) * out_w);
          if (oy + 1 < out_h) {
            ApplyActivation(p.activation, row1.data(), out_w, p.activation_alpha);
            std::memcpy(out + (oy + 1) * out_w, row1.data(), sizeof(float) * out_w);
          }
        }
      }
    }
  };
  ParallelBandsWithSerialGemm(num_bands, threads, 2, run_bands);
}

}  // namespace vigil::nn
