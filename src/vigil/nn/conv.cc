#include "vigil/nn/conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "vigil/nn/gemm.h"
#include "vigil/nn/parallel.h"
#include "vigil/nn/winograd.h"
#include "vigil/util/check.h"

namespace vigil::nn {
namespace {

// Target size of one band's column buffer: small enough to stay in cache while the GEMM packs
// it, large enough that each GEMM call has plenty of columns.
constexpr int64_t kColumnBufferBytes = 2 << 20;  // per thread; 1-2 MiB measured best

// Winograd pays off once the per-tile GEMMs have a reasonable inner dimension (C_in).
constexpr int64_t kWinogradMinChannels = 16;

// Up to this many taps per output (C_in/groups x kh x kw), the direct path beats im2col + GEMM.
constexpr int64_t kDirectMaxTaps = 32;

// Fills col (K x n, K = cin_g * kh * kw, n = band_rows * out_w) for output rows
// [oy0, oy0 + band_rows) of input channels [c0, c0 + cin_g).
void Im2ColBand(const float* in, int64_t in_h, int64_t in_w, int64_t c0, int64_t cin_g, int kh,
                int kw, const Conv2dParams& p, int64_t out_w, int64_t oy0, int64_t band_rows,
                float* col) {
  const int64_t n = band_rows * out_w;
  for (int64_t ci = 0; ci < cin_g; ++ci) {
    const float* plane = in + (c0 + ci) * in_h * in_w;
    for (int ky = 0; ky < kh; ++ky) {
      for (int kx = 0; kx < kw; ++kx) {
        float* dst = col + ((ci * kh + ky) * kw + kx) * n;
        const int64_t x_off = static_cast<int64_t>(kx) * p.dilation_w - p.pad_w;
        // Output columns whose input column lies inside the image: ox*stride + x_off in [0, in_w).
        int64_t ox_lo = 0;
        if (x_off < 0) ox_lo = (-x_off + p.stride_w - 1) / p.stride_w;
        int64_t ox_hi = in_w - x_off <= 0 ? 0 : (in_w - x_off - 1) / p.stride_w + 1;
        ox_lo = std::min(ox_lo, out_w);
        ox_hi = std::clamp(ox_hi, ox_lo, out_w);
        for (int64_t r = 0; r < band_rows; ++r) {
          float* d = dst + r * out_w;
          const int64_t iy = (oy0 + r) * p.stride_h - p.pad_h + static_cast<int64_t>(ky) * p.dilation_h;
          if (iy < 0 || iy >= in_h) {
            std::memset(d, 0, sizeof(float) * out_w);
            continue;
          }
          const float* s = plane + iy * in_w + x_off;
          std::fill(d, d + ox_lo, 0.f);
          if (p.stride_w == 1) {
            std::memcpy(d + ox_lo, s + ox_lo, sizeof(float) * (ox_hi - ox_lo));
          } else {
            for (int64_t ox = ox_lo; ox < ox_hi; ++ox) d[ox] = s[ox * p.stride_w];
          }
          std::fill(d + ox_hi, d + out_w, 0.f);
        }
      }
    }
  }
}

// y += a * x; separate arrays (restrict lets the compiler vectorise without alias checks).
inline void Axpy(float a, const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// One output channel of a stride_w = 1 convolution, accumulated row by row: out = bias +
// sum over taps of w_tap * (shifted input row), then the activation.
void DirectConvChannel(const float* in, int64_t in_h, int64_t in_w, int64_t c0, int64_t cin_g,
                       int kh, int kw, const Conv2dParams& p, const float* w, float bias,
                       int64_t out_h, int64_t out_w, float* out) {
  for (int64_t oy = 0; oy < out_h; ++oy) {
    float* o = out + oy * out_w;
    std::fill(o, o + out_w, bias);
    for (int64_t ci = 0; ci < cin_g; ++ci) {
      const float* plane = in + (c0 + ci) * in_h * in_w;
      for (int ky = 0; ky < kh; ++ky) {
        const int64_t iy = oy * p.stride_h - p.pad_h + static_cast<int64_t>(ky) * p.dilation_h;
        if (iy < 0 || iy >= in_h) continue;
        const float* row = plane + iy * in_w;
        for (int kx = 0; kx < kw; ++kx) {
          const float wv = w[(ci * kh + ky) * kw + kx];
          const int64_t x_off = static_cast<int64_t>(kx) * p.dilation_w - p.pad_w;
          const int64_t lo = std::clamp<int64_t>(-x_off, 0, out_w);
          const int64_t hi = std::clamp<int64_t>(in_w - x_off, lo, out_w);
          Axpy(wv, row + x_off + lo, o + lo, hi - lo);
        }
      }
    }
    ApplyActivation(p.activation, o, out_w, p.activation_alpha);
  }
}

// out[co, j] = act(out[co, j] + bias[co]) for j in [0, n) of each row (row stride ld).
void BiasActivation(float* out, int64_t rows, int64_t n, int64_t ld, const float* bias,
                    const Conv2dParams& p) {
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * ld;
    if (bias != nullptr) {
      const float b = bias[r];
      if (p.activation == Activation::kReLU) {
        for (int64_t j = 0; j < n; ++j) o[j] = std::max(o[j] + b, 0.f);
        continue;
      }
      for (int64_t j = 0; j < n; ++j) o[j] += b;
    }
    if (p.activation != Activation::kNone) ApplyActivation(p.activation, o, n, p.activation_alpha);
  }
}

}  // namespace

int64_t ConvOutputSize(int64_t in, int kernel, int stride, int pad, int dilation) {
  return (in + 2 * static_cast<int64_t>(pad) - static_cast<int64_t>(dilation) * (kernel - 1) - 1) /
             stride +
         1;
}

Tensor Conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& p) {
  Tensor y;
  Conv2d(x, weight, bias, p, y);
  return y;
}

void Conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& p,
            Tensor& y) {
  VIGIL_CHECK(&x != &y, "conv2d: output must not alias the input");
  const ImageShape s = GetImageShape(x, "conv2d");
  VIGIL_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D (C_out x C_in/groups x kh x kw), got {}",
              weight.ShapeString());
  VIGIL_CHECK(p.groups >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 &&
                  p.dilation_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
              "conv2d: bad parameters (groups {}, stride {}x{}, dilation {}x{}, padding {}x{})",
              p.groups, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.pad_h, p.pad_w);
  const int64_t cout = weight.size(0);
  const int64_t cin_g = weight.size(1);
  const int kh = static_cast<int>(weight.size(2));
  const int kw = static_cast<int>(weight.size(3));
  VIGIL_CHECK(cin_g * p.groups == s.c && cout % p.groups == 0,
              "conv2d: input has {} channels, weight {} expects {} x {} groups", s.c,
              weight.ShapeString(), cin_g, p.groups);
  VIGIL_CHECK(bias == nullptr || bias->numel() == cout, "conv2d: bias has {} elements, expected {}",
              bias == nullptr ? 0 : bias->numel(), cout);
  const int64_t out_h = ConvOutputSize(s.h, kh, p.stride_h, p.pad_h, p.dilation_h);
  const int64_t out_w = ConvOutputSize(s.w, kw, p.stride_w, p.pad_w, p.dilation_w);
  VIGIL_CHECK(out_h > 0 && out_w > 0, "conv2d: input {} too small for kernel {}x{}",
              x.ShapeString(), kh, kw);

  ResizeImageLike(x, cout, out_h, out_w, y);  // every element is written below
  const int64_t out_hw = out_h * out_w;
  const int64_t cout_g = cout / p.groups;
  const int64_t k = cin_g * kh * kw;
  const float* in = x.ptr();
  const float* b = bias != nullptr ? bias->ptr() : nullptr;

  const int threads = std::max(1, NumThreads());
  const bool pointwise = kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                         p.pad_h == 0 && p.pad_w == 0;
  if (pointwise) {
    for (int g = 0; g < p.groups; ++g) {
      Gemm(false, false, cout_g, out_hw, k, 1.f, weight.ptr() + g * cout_g * k, k,
           in + g * cin_g * out_hw, out_hw, 0.f, y.ptr() + g * cout_g * out_hw, out_hw);
    }
    BiasActivation(y.ptr(), cout, out_hw, out_hw, b, p);
    return;
  }

  if (p.allow_winograd && WinogradApplies(weight, p) && cin_g >= kWinogradMinChannels) {
    WinogradConv3x3(x, weight, b, p, y);
    return;
  }
  if (k <= kDirectMaxTaps && p.stride_w == 1) {
    // Few taps per output (e.g. a first layer on a gray image: 1 x 3 x 3): a GEMM with so short
    // an inner dimension is bound by writing its output, so accumulate shifted rows instead.
    ParallelFor(cout, ThreadsFor(cout * out_hw * k, threads), [&](int64_t begin, int64_t end) {
      for (int64_t co = begin; co < end; ++co) {
        DirectConvChannel(in, s.h, s.w, (co / cout_g) * cin_g, cin_g, kh, kw, p,
                          weight.ptr() + co * k, b != nullptr ? b[co] : 0.f, out_h, out_w,
                          y.ptr() + co * out_hw);
      }
    });
    return;
  }

  // Bands of output rows, each an im2col into a private buffer followed by one GEMM. With
  // several threads, the bands are shared out between threads that each run a single-threaded
  // GEMM, so that the im2col copies run in parallel too instead of between parallel GEMMs.
  const int64_t band_rows = std::clamp<int64_t>(
      kColumnBufferBytes / static_cast<int64_t>(sizeof(float) * k * out_w), 1, out_h);
  const int64_t bands_per_group = (out_h + band_rows - 1) / band_rows;
  const int64_t num_bands = bands_per_group * p.groups;
  auto run_bands = [&](const NextItem& next) {
    // Fully overwritten by each band's im2col: left uninitialised.
    const std::unique_ptr<float[]> col(new float[static_cast<size_t>(k * band_rows * out_w)]);
    for (int64_t band; (band = next()) >= 0;) {
      const int64_t g = band / bands_per_group;
      const int64_t oy0 = (band % bands_per_group) * band_rows;
      const int64_t rows = std::min(band_rows, out_h - oy0);
      const int64_t n = rows * out_w;
      Im2ColBand(in, s.h, s.w, g * cin_g, cin_g, kh, kw, p, out_w, oy0, rows, col.get());
      float* out = y.ptr() + g * cout_g * out_hw + oy0 * out_w;
      Gemm(false, false, cout_g, n, k, 1.f, weight.ptr() + g * cout_g * k, k, col.get(), n, 0.f,
           out, out_hw);
      BiasActivation(out, cout_g, n, out_hw, b != nullptr ? b + g * cout_g : nullptr, p);
    }
  };
  // Fewer than two bands per thread: too few to share, OpenBLAS threads each GEMM instead.
  ParallelBandsWithSerialGemm(num_bands, threads, 2 * threads, run_bands);
}

void Conv2dLayer::FoldBatchNorm(const Tensor& gamma, const Tensor& beta,
                                const Tensor& running_mean, const Tensor& running_var, float eps) {
  VIGIL_CHECK(weight.dim() == 4, "FoldBatchNorm: weight must be 4-D, got {}", weight.ShapeString());
  const int64_t cout = weight.size(0);
  VIGIL_CHECK(gamma.numel() == cout && beta.numel() == cout && running_mean.numel() == cout &&
                  running_var.numel() == cout,
              "FoldBatchNorm: batch-norm tensors must have {} elements (gamma {}, beta {}, mean "
              "{}, var {})",
              cout, gamma.numel(), beta.numel(), running_mean.numel(), running_var.numel());
  if (bias.numel() == 0) bias = Tensor({cout}, 0.f);
  VIGIL_CHECK(bias.numel() == cout, "FoldBatchNorm: bias has {} elements, expected {}",
              bias.numel(), cout);
  const int64_t per_out = weight.numel() / cout;
  for (int64_t o = 0; o < cout; ++o) {
    const float scale = gamma.data[o] / std::sqrt(running_var.data[o] + eps);
    float* w = weight.ptr() + o * per_out;
    for (int64_t i = 0; i < per_out; ++i) w[i] *= scale;
    bias.data[o] = (bias.data[o] - running_mean.data[o]) * scale + beta.data[o];
  }
}

}  // namespace vigil::nn
