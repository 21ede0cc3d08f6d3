#include "vigil/matching/lightglue.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include <Eigen/Core>

#include "vigil/matching/attention.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Brings later releases' key names to the v0.1_arxiv ones: "matcher." prefix dropped,
// "transformers.i.self_attn" -> "self_attn.i", "transformers.i.cross_attn" -> "cross_attn.i".
io::StateDict CanonicalKeys(const io::StateDict& weights) {
  std::map<std::string, io::CheckpointTensor> renamed;
  for (const auto& [key, tensor] : weights.entries()) {
    std::string k = StartsWith(key, "matcher.") ? key.substr(8) : key;
    if (StartsWith(k, "transformers.")) {
      const size_t dot1 = k.find('.', 13);
      const size_t dot2 = dot1 == std::string::npos ? dot1 : k.find('.', dot1 + 1);
      if (dot2 != std::string::npos) {
        const std::string index = k.substr(13, dot1 - 13);
        const std::string block = k.substr(dot1 + 1, dot2 - dot1 - 1);  // self_attn | cross_attn
        k = block + "." + index + k.substr(dot2);
      }
    }
    renamed[k] = tensor;
  }
  return io::StateDict(weights.source(), std::move(renamed));
}

// The feed-forward block both transformer kinds end with: x += W3 gelu(LN(W0 [x, message])).
struct Ffn {
  glue::Linear l0, l3;
  std::vector<float> gamma, beta;

  void Load(const io::StateDict& w, const std::string& prefix, int64_t dim) {
    l0 = glue::LoadLinear(w, prefix + ".0", 2 * dim, 2 * dim);
    gamma = w.Get(prefix + ".1.weight", {2 * dim}).data;
    beta = w.Get(prefix + ".1.bias", {2 * dim}).data;
    l3 = glue::LoadLinear(w, prefix + ".3", dim, 2 * dim);
  }

  // `concat`: n x 2D with x in the left half and the projected message in the right half.
  void Apply(const float* concat, int64_t n, float* x, int threads) const {
    const int64_t dim = l3.out;
    std::vector<float> hidden(static_cast<size_t>(n * 2 * dim)), delta(static_cast<size_t>(n * dim));
    l0.Forward(concat, n, 2 * dim, hidden.data(), 2 * dim, threads);
    glue::ParallelFor(threads, n, 16, [&](int64_t begin, int64_t end) {
      glue::LayerNormRows(hidden.data() + begin * 2 * dim, end - begin, 2 * dim, gamma.data(),
                          beta.data(), 1e-5f);
      glue::GeluInPlace(hidden.data() + begin * 2 * dim, (end - begin) * 2 * dim);
    });
    l3.Forward(hidden.data(), n, 2 * dim, delta.data(), dim, threads);
    for (int64_t k = 0; k < n * dim; ++k) x[k] += delta[k];
  }
};

struct SelfBlock {
  glue::Linear qkv;  // D -> 3D as [q; k; v], each head-major (head h = [h*dh, (h+1)*dh))
  glue::Linear out_proj;
  Ffn ffn;
};

struct CrossBlock {
  glue::Linear qk_v;  // to_qk and to_v fused: D -> 2D as [qk; v], one GEMM per image
  glue::Linear to_out;
  Ffn ffn;
};

struct Assignment {
  glue::Linear final_proj, matchability;
};

// Rotary embedding of a keypoint: cos/sin of the learnt Fourier projection, dh/2 angles each.
struct Encoding {
  std::vector<float> cos, sin;  // n x (dh/2)
};

}  // namespace

struct LightGlueNetwork::Impl {
  LightGlueOptions options;
  int threads = 1;
  std::string source;
  int input_dim = 0, dim = 0, heads = 0, head_dim = 0;
  bool has_input_proj = false;
  glue::Linear input_proj;
  std::vector<float> wr;  // (dh/2) x 2 Fourier projection
  std::vector<SelfBlock> self_blocks;
  std::vector<CrossBlock> cross_blocks;
  std::vector<Assignment> assignment;
  std::vector<glue::Linear> token_confidence;

  float ConfidenceThreshold(int layer) const {
    const double t = 0.8 + 0.1 * std::exp(-4.0 * layer / static_cast<double>(self_blocks.size()));
    return static_cast<float>(std::clamp(t, 0.0, 1.0));
  }

  Encoding Encode(const Features& f, std::vector<float>* desc) const {
    const int64_t n = f.size();
    VIGIL_CHECK(f.image_width > 0 && f.image_height > 0,
                "lightglue: features have no image size (image_width/image_height are needed to "
                "normalise the keypoints)");
    const float w = static_cast<float>(f.image_width), h = static_cast<float>(f.image_height);
    const float scale = std::max(w, h) / 2;
    const int half = head_dim / 2;
    Encoding e;
    e.cos.resize(static_cast<size_t>(n * half));
    e.sin.resize(e.cos.size());
    for (int64_t i = 0; i < n; ++i) {
      const float x = (f.keypoints(i, 0) - w / 2) / scale, y = (f.keypoints(i, 1) - h / 2) / scale;
      for (int p = 0; p < half; ++p) {
        const float angle = wr[p * 2] * x + wr[p * 2 + 1] * y;
        e.cos[i * half + p] = std::cos(angle);
        e.sin[i * half + p] = std::sin(angle);
      }
    }
    desc->resize(static_cast<size_t>(n * dim));
    if (has_input_proj) {
      input_proj.Forward(f.descriptors.data(), n, input_dim, desc->data(), dim, threads);
    } else {
      std::copy_n(f.descriptors.data(), n * dim, desc->data());
    }
    return e;
  }

  // Rotates each (even, odd) channel pair of q and k in every head by the keypoint's angles.
  void Rotate(float* qkv, int64_t n, const Encoding& e) const {
    const int half = head_dim / 2;
    glue::ParallelFor(threads, n, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const float* c = e.cos.data() + i * half;
        const float* s = e.sin.data() + i * half;
        for (int part = 0; part < 2; ++part) {  // q, then k
          float* row = qkv + i * 3 * dim + part * dim;
          for (int h = 0; h < heads; ++h) {
            float* t = row + h * head_dim;
            for (int p = 0; p < half; ++p) {
              const float a = t[2 * p], b = t[2 * p + 1];
              t[2 * p] = a * c[p] - b * s[p];
              t[2 * p + 1] = b * c[p] + a * s[p];
            }
          }
        }
      }
    });
  }

  void SelfLayer(int layer, std::vector<float>* desc, int64_t n, const Encoding& e) const {
    if (n == 0) return;
    const SelfBlock& b = self_blocks[layer];
    std::vector<float> qkv(static_cast<size_t>(n * 3 * dim)), context(static_cast<size_t>(n * dim));
    b.qkv.Forward(desc->data(), n, dim, qkv.data(), 3 * dim, threads);
    Rotate(qkv.data(), n, e);
    glue::MultiHeadAttention(qkv.data(), 3 * dim, qkv.data() + dim, 3 * dim, qkv.data() + 2 * dim,
                             3 * dim, n, n, heads, head_dim,
                             1.f / std::sqrt(static_cast<float>(head_dim)), context.data(), dim,
                             threads);
    std::vector<float> concat(static_cast<size_t>(n * 2 * dim));
    for (int64_t i = 0; i < n; ++i) std::copy_n(desc->data() + i * dim, dim, concat.data() + i * 2 * dim);
    b.out_proj.Forward(context.data(), n, dim, concat.data() + dim, 2 * dim, threads);
    b.ffn.Apply(concat.data(), n, desc->data(), threads);
  }

  void CrossLayer(int layer, std::vector<float>* desc0, int64_t n0, std::vector<float>* desc1,
                  int64_t n1) const {
    if (n0 == 0 || n1 == 0) return;
    const CrossBlock& b = cross_blocks[layer];
    std::vector<float>* desc[2] = {desc0, desc1};
    const int64_t n[2] = {n0, n1};
    std::vector<float> qkv[2], message[2];  // per image: [qk | v], n x 2D
    for (int a = 0; a < 2; ++a) {
      qkv[a].resize(static_cast<size_t>(n[a] * 2 * dim));
      b.qk_v.Forward(desc[a]->data(), n[a], dim, qkv[a].data(), 2 * dim, threads);
      message[a].resize(static_cast<size_t>(n[a] * dim));
    }
    // (dh^-1/4 q0) . (dh^-1/4 q1) as in the reference = dh^-1/2 q0 . q1.
    glue::BidirectionalAttention(qkv[0].data(), qkv[1].data(), qkv[0].data() + dim,
                                 qkv[1].data() + dim, 2 * dim, n0, n1, heads, head_dim,
                                 1.f / std::sqrt(static_cast<float>(head_dim)), message[0].data(),
                                 message[1].data(), dim, threads);
    for (int a = 0; a < 2; ++a) {
      std::vector<float> concat(static_cast<size_t>(n[a] * 2 * dim));
      for (int64_t i = 0; i < n[a]; ++i) {
        std::copy_n(desc[a]->data() + i * dim, dim, concat.data() + i * 2 * dim);
      }
      b.to_out.Forward(message[a].data(), n[a], dim, concat.data() + dim, 2 * dim, threads);
      b.ffn.Apply(concat.data(), n[a], desc[a]->data(), threads);
    }
  }

  // sigmoid(w . x + b) per row, for token confidence and matchability.
  std::vector<float> SigmoidHead(const glue::Linear& head, const std::vector<float>& desc,
                                 int64_t n) const {
    std::vector<float> out(n);
    head.Forward(desc.data(), n, dim, out.data(), 1, threads);
    glue::SigmoidInPlace(out.data(), n);
    return out;
  }

  // The (n0+1) x (n1+1) log assignment of MatchAssignment (sigmoid_log_double_softmax).
  std::vector<float> LogAssignment(int layer, const std::vector<float>& desc0, int64_t n0,
                                   const std::vector<float>& desc1, int64_t n1) const {
    const Assignment& a = assignment[layer];
    const int64_t cols = n1 + 1;
    std::vector<float> scores(static_cast<size_t>((n0 + 1) * cols), 0.f);
    std::vector<float> m0(static_cast<size_t>(n0 * dim)), m1(static_cast<size_t>(n1 * dim));
    a.final_proj.Forward(desc0.data(), n0, dim, m0.data(), dim, threads);
    a.final_proj.Forward(desc1.data(), n1, dim, m1.data(), dim, threads);
    std::vector<float> z0(n0), z1(n1);
    a.matchability.Forward(desc0.data(), n0, dim, z0.data(), 1, threads);
    a.matchability.Forward(desc1.data(), n1, dim, z1.data(), 1, threads);
    const float inv_sqrt_dim = 1.f / std::sqrt(static_cast<float>(dim));
    glue::ParallelFor(threads, n0, 32, [&](int64_t begin, int64_t end) {
      glue::Gemm(false, true, end - begin, n1, dim, inv_sqrt_dim, m0.data() + begin * dim, dim,
                 m1.data(), dim, 0.f, scores.data() + begin * cols, cols);
    });
    // Row and column log-sum-exps of the similarity (rows in parallel, columns in chunks).
    std::vector<float> lse0(n0), lse1(n1);
    glue::ParallelFor(threads, n0, 32, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const Eigen::Map<const Eigen::ArrayXf> row(scores.data() + i * cols, n1);
        const float max = row.maxCoeff();
        lse0[i] = max + std::log((row - max).exp().sum());
      }
    });
    glue::ParallelFor(threads, n1, 64, [&](int64_t begin, int64_t end) {
      const int64_t width = end - begin;
      Eigen::ArrayXf max = Eigen::ArrayXf::Constant(width, -std::numeric_limits<float>::infinity());
      for (int64_t i = 0; i < n0; ++i) {
        max = max.max(Eigen::Map<const Eigen::ArrayXf>(scores.data() + i * cols + begin, width));
      }
      Eigen::ArrayXf sum = Eigen::ArrayXf::Zero(width);
      for (int64_t i = 0; i < n0; ++i) {
        sum += (Eigen::Map<const Eigen::ArrayXf>(scores.data() + i * cols + begin, width) - max).exp();
      }
      Eigen::Map<Eigen::ArrayXf>(lse1.data() + begin, width) = max + sum.log();
    });
    std::vector<float> cert1(n1);
    for (int64_t j = 0; j < n1; ++j) cert1[j] = glue::LogSigmoid(z1[j]) - lse1[j];
    const Eigen::Map<const Eigen::ArrayXf> c1(cert1.data(), n1);
    glue::ParallelFor(threads, n0, 32, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // log_softmax_row + log_softmax_col + log sigmoid(z0) + log sigmoid(z1).
        Eigen::Map<Eigen::ArrayXf> row(scores.data() + i * cols, n1);
        row = 2.f * row + (glue::LogSigmoid(z0[i]) - lse0[i]) + c1;
        scores[i * cols + n1] = glue::LogSigmoid(-z0[i]);
      }
    });
    for (int64_t j = 0; j < n1; ++j) scores[n0 * cols + j] = glue::LogSigmoid(-z1[j]);
    return scores;
  }
};

LightGlueNetwork::LightGlueNetwork(const io::StateDict& raw_weights, const LightGlueOptions& options,
                                   int num_threads)
    : impl_(std::make_unique<Impl>()) {
  options.Check();
  Impl& m = *impl_;
  m.options = options;
  m.threads = std::max(1, num_threads);
  m.source = raw_weights.source();
  const io::StateDict w = CanonicalKeys(raw_weights);
  const nn::Tensor& out_proj = w.Get("self_attn.0.out_proj.weight");
  VIGIL_CHECK(out_proj.dim() == 2 && out_proj.shape[0] == out_proj.shape[1],
              "{}: tensor 'self_attn.0.out_proj.weight' has shape {}, expected [D, D]", m.source,
              out_proj.ShapeString());
  m.dim = static_cast<int>(out_proj.shape[0]);
  const nn::Tensor& wr = w.Get("posenc.Wr.weight");
  VIGIL_CHECK(wr.dim() == 2 && wr.shape[1] == 2 && wr.shape[0] > 0 && m.dim % (2 * wr.shape[0]) == 0,
              "{}: tensor 'posenc.Wr.weight' has shape {}, expected [head_dim/2, 2] with head_dim "
              "dividing {}",
              m.source, wr.ShapeString(), m.dim);
  m.wr = wr.data;
  m.head_dim = static_cast<int>(2 * wr.shape[0]);
  m.heads = m.dim / m.head_dim;
  m.has_input_proj = w.Contains("input_proj.weight");
  if (m.has_input_proj) m.input_proj = glue::LoadLinear(w, "input_proj", m.dim);
  m.input_dim = m.has_input_proj ? static_cast<int>(m.input_proj.in) : m.dim;

  const int64_t dim = m.dim;
  for (int i = 0; w.Contains("self_attn." + std::to_string(i) + ".Wqkv.weight"); ++i) {
    const std::string s = "self_attn." + std::to_string(i), c = "cross_attn." + std::to_string(i);
    SelfBlock sb;
    const glue::Linear wqkv = glue::LoadLinear(w, s + ".Wqkv", 3 * dim, dim);
    // The reference unflattens the 3D outputs as (heads, head_dim, 3): output row
    // (h*dh + d)*3 + t is component t (q, k, v) of channel h*dh + d.
    sb.qkv = wqkv;
    for (int64_t ch = 0; ch < dim; ++ch) {
      for (int t = 0; t < 3; ++t) {
        const int64_t from = ch * 3 + t, to = t * dim + ch;
        std::copy_n(wqkv.weight.data() + from * dim, dim, sb.qkv.weight.data() + to * dim);
        sb.qkv.bias[to] = wqkv.bias[from];
      }
    }
    sb.out_proj = glue::LoadLinear(w, s + ".out_proj", dim, dim);
    sb.ffn.Load(w, s + ".ffn", dim);
    m.self_blocks.push_back(std::move(sb));
    CrossBlock cb;
    cb.qk_v = glue::ConcatOutputs(
        {glue::LoadLinear(w, c + ".to_qk", dim, dim), glue::LoadLinear(w, c + ".to_v", dim, dim)});
    cb.to_out = glue::LoadLinear(w, c + ".to_out", dim, dim);
    cb.ffn.Load(w, c + ".ffn", dim);
    m.cross_blocks.push_back(std::move(cb));
    const std::string a = "log_assignment." + std::to_string(i);
    m.assignment.push_back({glue::LoadLinear(w, a + ".final_proj", dim, dim),
                            glue::LoadLinear(w, a + ".matchability", 1, dim)});
  }
  const int layers = static_cast<int>(m.self_blocks.size());
  VIGIL_CHECK(layers > 0, "{}: missing tensor 'self_attn.0.Wqkv.weight'", m.source);
  for (int i = 0; i + 1 < layers; ++i) {
    const std::string t = "token_confidence." + std::to_string(i) + ".token.0";
    // Only needed for early exit / pruning; an export without them runs with both off.
    if (w.Contains(t + ".weight")) m.token_confidence.push_back(glue::LoadLinear(w, t, 1, dim));
  }
  VIGIL_CHECK(m.token_confidence.empty() || static_cast<int>(m.token_confidence.size()) == layers - 1,
              "{}: {} token_confidence heads for {} layers, expected {}", m.source,
              m.token_confidence.size(), layers, layers - 1);
}

LightGlueNetwork::~LightGlueNetwork() = default;

int LightGlueNetwork::input_dim() const { return impl_->input_dim; }
int LightGlueNetwork::descriptor_dim() const { return impl_->dim; }
int LightGlueNetwork::num_layers() const { return static_cast<int>(impl_->self_blocks.size()); }
int LightGlueNetwork::num_heads() const { return impl_->heads; }

LightGlueOutput LightGlueNetwork::Run(const Features& f0, const Features& f1) const {
  const Impl& m = *impl_;
  const auto start = std::chrono::steady_clock::now();
  const int64_t n0 = f0.size(), n1 = f1.size();
  for (const Features* f : {&f0, &f1}) {
    VIGIL_CHECK(f->size() == 0 || (!f->is_binary() && f->descriptor_dim() == m.input_dim),
                "lightglue: weights {} expect {}-d float descriptors, but extractor '{}' gives {}{}",
                m.source, m.input_dim, f->extractor, f->descriptor_dim(),
                f->is_binary() ? " bytes" : "-d");
  }
  LightGlueOutput out;
  out.matches.matches0.assign(n0, -1);
  out.matches.confidence0.assign(n0, 0.f);
  out.scores0.assign(n0, 0.f);
  out.scores1.assign(n1, 0.f);
  if (n0 == 0 || n1 == 0) {
    out.log_assignment.assign(static_cast<size_t>((n0 + 1) * (n1 + 1)), 0.f);
    FillReverseMatches(static_cast<int>(n1), &out.matches);
    out.matches.timings_ms["lightglue.total"] = MsSince(start);
    return out;
  }
  glue::ScopedSingleThreadedBlas blas;
  std::vector<float> desc0, desc1;
  Encoding enc0 = m.Encode(f0, &desc0), enc1 = m.Encode(f1, &desc1);
  out.matches.timings_ms["lightglue.encoder"] = MsSince(start);

  const auto layers_start = std::chrono::steady_clock::now();
  const int layers = static_cast<int>(m.self_blocks.size());
  const bool early_stop = m.options.depth_confidence > 0 && !m.token_confidence.empty();
  const bool pruning = m.options.width_confidence > 0;
  // Indices of the keypoints still in play, into the original keypoint order.
  std::vector<int> ind0(n0), ind1(n1);
  std::iota(ind0.begin(), ind0.end(), 0);
  std::iota(ind1.begin(), ind1.end(), 0);
  if (pruning) {
    out.prune0.assign(n0, 1);
    out.prune1.assign(n1, 1);
  }
  const int half = m.head_dim / 2;
  int layer = 0;
  for (; layer < layers; ++layer) {
    const int64_t k0 = static_cast<int64_t>(ind0.size()), k1 = static_cast<int64_t>(ind1.size());
    m.SelfLayer(layer, &desc0, k0, enc0);
    m.SelfLayer(layer, &desc1, k1, enc1);
    m.CrossLayer(layer, &desc0, k0, &desc1, k1);
    if (layer == layers - 1) break;  // no early stopping or pruning after the last layer
    std::vector<float> token0, token1;
    const float threshold = m.ConfidenceThreshold(layer);
    if (early_stop) {
      token0 = m.SigmoidHead(m.token_confidence[layer], desc0, k0);
      token1 = m.SigmoidHead(m.token_confidence[layer], desc1, k1);
      // As the reference: pruned keypoints count as confident (denominator = all keypoints).
      int unconfident = 0;
      for (float c : token0) unconfident += c < threshold;
      for (float c : token1) unconfident += c < threshold;
      const float ratio = 1.f - static_cast<float>(unconfident) / static_cast<float>(n0 + n1);
      if (ratio > m.options.depth_confidence) break;
    }
    if (pruning) {
      const float min_score = static_cast<float>(1.0 - m.options.width_confidence);
      auto prune = [&](const std::vector<float>& token, std::vector<float>* desc, Encoding* enc,
                       std::vector<int>* ind, std::vector<int>* counts) {
        const int64_t k = static_cast<int64_t>(ind->size());
        const std::vector<float> scores = m.SigmoidHead(m.assignment[layer].matchability, *desc, k);
        int64_t kept = 0;
        for (int64_t i = 0; i < k; ++i) {
          // Low-confidence points are never pruned.
          const bool keep = scores[i] > min_score || (!token.empty() && token[i] <= threshold);
          if (!keep) continue;
          if (kept != i) {
            std::copy_n(desc->data() + i * m.dim, m.dim, desc->data() + kept * m.dim);
            std::copy_n(enc->cos.data() + i * half, half, enc->cos.data() + kept * half);
            std::copy_n(enc->sin.data() + i * half, half, enc->sin.data() + kept * half);
            (*ind)[kept] = (*ind)[i];
          }
          ++kept;
        }
        desc->resize(static_cast<size_t>(kept * m.dim));
        enc->cos.resize(static_cast<size_t>(kept * half));
        enc->sin.resize(static_cast<size_t>(kept * half));
        ind->resize(kept);
        for (int i : *ind) ++(*counts)[i];
      };
      prune(token0, &desc0, &enc0, &ind0, &out.prune0);
      prune(token1, &desc1, &enc1, &ind1, &out.prune1);
    }
  }
  out.stop = layer + 1;
  out.matches.timings_ms["lightglue.layers"] = MsSince(layers_start);

  const auto assign_start = std::chrono::steady_clock::now();
  const int64_t k0 = static_cast<int64_t>(ind0.size()), k1 = static_cast<int64_t>(ind1.size());
  if (k0 > 0 && k1 > 0) {
    out.log_assignment = m.LogAssignment(layer, desc0, k0, desc1, k1);
  } else {
    out.log_assignment.assign(static_cast<size_t>((k0 + 1) * (k1 + 1)), 0.f);
  }
  const auto extracted = glue::ExtractMutualMatches(out.log_assignment.data(), k0, k1, k1 + 1,
                                                    m.options.filter_threshold);
  for (int64_t a = 0; a < k0; ++a) {
    const int i = ind0[a], j = extracted.matches0[a];
    out.scores0[i] = extracted.scores0[a];
    if (j >= 0) {
      out.matches.matches0[i] = ind1[j];
      out.matches.confidence0[i] = std::min(1.f, extracted.scores0[a]);
    }
  }
  for (int64_t b = 0; b < k1; ++b) out.scores1[ind1[b]] = extracted.scores1[b];
  FillReverseMatches(static_cast<int>(n1), &out.matches);
  out.matches.timings_ms["lightglue.assignment"] = MsSince(assign_start);
  out.matches.timings_ms["lightglue.total"] = MsSince(start);
  return out;
}

namespace {

// The official LightGlue file for the extractor that made the features, as hloc and the
// LightGlue API pick it (features='superpoint' | 'aliked' | 'disk').
ModelSpec OfficialWeights(const Features& features) {
  std::string name = "superpoint";
  for (const std::string candidate : {"aliked", "disk"}) {
    if (features.extractor.rfind(candidate, 0) == 0) name = candidate;
  }
  std::vector<std::string> files = {"lightglue/" + name + "_lightglue.pth",
                                    "lightglue/" + name + "_lightglue_v0-1_arxiv.pth"};
  return {files, "LightGlue weights for " + name,
          "https://github.com/cvg/LightGlue/releases (v0.1_arxiv: " + name + "_lightglue.pth)"};
}

class LightGlueMatcher : public Matcher {
 public:
  // Explicit weights load now; otherwise the official file matching the first features'
  // extractor is looked up on the first Match.
  explicit LightGlueMatcher(const MatcherOptions& options) : options_(options) {
    if (!options.lightglue.weights.empty()) {
      const auto path = FindModelFile(options.lightglue.weights, {{}, "LightGlue weights", ""});
      set_model_files({path});
      Load(path);
    }
  }
  Matches Match(const Features& features0, const Features& features1) override {
    if (!network_) Load(FindModelFile("", OfficialWeights(features0)));
    return network_->Run(features0, features1).matches;
  }
  std::string name() const override { return "lightglue"; }

 private:
  void Load(const std::filesystem::path& path) {
    network_ = std::make_unique<LightGlueNetwork>(io::LoadTorchCheckpoint(path), options_.lightglue,
                                                  options_.num_threads);
  }
  MatcherOptions options_;
  std::unique_ptr<LightGlueNetwork> network_;
};

}  // namespace

void LightGlueOptions::Check() const {
  VIGIL_CHECK_OPTION(depth_confidence < 0 || depth_confidence <= 1, "depth_confidence",
                     "must be in [0, 1] or negative (off)");
  VIGIL_CHECK_OPTION(width_confidence < 0 || width_confidence <= 1, "width_confidence",
                     "must be in [0, 1] or negative (off)");
  VIGIL_CHECK_OPTION(filter_threshold >= 0 && filter_threshold < 1, "filter_threshold",
                     "must be in [0, 1)");
}

std::unique_ptr<Matcher> CreateLightGlueMatcher(const MatcherOptions& options) {
  return std::make_unique<LightGlueMatcher>(options);
}

}  // namespace vigil
