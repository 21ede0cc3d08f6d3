#include "vigil/matching/superglue.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "vigil/matching/attention.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil {
namespace {

// Fixed in the reference code (AttentionalPropagation(feature_dim, 4)); not stored in the file.
constexpr int kNumHeads = 4;

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// One AttentionalPropagation layer: fused q/k/v projection, merge, and the 2-layer MLP with the
// batch-norm folded into its first layer.
struct GnnLayer {
  bool cross = false;
  glue::Linear qkv;  // D -> 3D, rows permuted so that head h owns channels [h*dh, (h+1)*dh)
  glue::Linear merge;
  glue::Linear mlp0, mlp1;
};

// The reference splits channels into heads with view(dim, heads): channel c belongs to head
// c % heads at position c / heads. Reorders a projection's output rows (or the merge's input
// columns) so each head is one contiguous block instead.
int HeadMajorIndex(int c, int dim) {
  const int head_dim = dim / kNumHeads;
  return (c % kNumHeads) * head_dim + c / kNumHeads;
}

void PermuteOutputRows(glue::Linear* linear) {
  glue::Linear permuted = *linear;
  const int dim = static_cast<int>(linear->out);
  for (int c = 0; c < dim; ++c) {
    const int to = HeadMajorIndex(c, dim);
    std::copy_n(linear->weight.data() + c * linear->in, linear->in,
                permuted.weight.data() + to * linear->in);
    permuted.bias[to] = linear->bias[c];
  }
  *linear = std::move(permuted);
}

void PermuteInputColumns(glue::Linear* linear) {
  glue::Linear permuted = *linear;
  const int dim = static_cast<int>(linear->in);
  for (int64_t o = 0; o < linear->out; ++o) {
    for (int c = 0; c < dim; ++c) {
      permuted.weight[o * dim + HeadMajorIndex(c, dim)] = linear->weight[o * dim + c];
    }
  }
  *linear = std::move(permuted);
}

// Parses an MLP of the reference (Conv1d, BatchNorm1d, ReLU, ..., Conv1d) stored under
// `<prefix>.<index>`: a Conv1d has a 3-d weight, a BatchNorm1d a running_mean.
std::vector<glue::Linear> LoadMlp(const io::StateDict& weights, const std::string& prefix) {
  std::vector<glue::Linear> layers;
  for (int index = 0;; ++index) {
    const std::string p = prefix + "." + std::to_string(index);
    if (weights.Contains(p + ".running_mean")) {
      VIGIL_CHECK(!layers.empty(), "{}: batch-norm '{}' before any convolution", weights.source(),
                  p);
      glue::FoldBatchNorm(weights, p, &layers.back());
    } else if (weights.Contains(p + ".weight")) {
      layers.push_back(glue::LoadLinear(weights, p, -1,
                                        layers.empty() ? -1 : layers.back().out));
    } else if (!weights.Contains(prefix + "." + std::to_string(index + 1) + ".weight")) {
      break;  // a ReLU has no parameters: stop only after two empty indices
    }
  }
  VIGIL_CHECK(!layers.empty(), "{}: missing tensor '{}.0.weight'", weights.source(), prefix);
  return layers;
}

// Runs an MLP on n rows: ReLU after every layer but the last. `scratch` holds two buffers.
void RunMlp(const std::vector<glue::Linear>& mlp, const float* x, int64_t n, int64_t ldx,
            float* y, int64_t ldy, std::vector<float>* scratch_a, std::vector<float>* scratch_b,
            int threads) {
  const float* in = x;
  int64_t ld_in = ldx;
  for (size_t l = 0; l < mlp.size(); ++l) {
    const bool last = l + 1 == mlp.size();
    std::vector<float>* buffer = (l % 2 == 0) ? scratch_a : scratch_b;
    float* out = y;
    int64_t ld_out = ldy;
    if (!last) {
      buffer->resize(static_cast<size_t>(n * mlp[l].out));
      out = buffer->data();
      ld_out = mlp[l].out;
    }
    mlp[l].Forward(in, n, ld_in, out, ld_out, threads);
    if (!last) glue::ReluInPlace(out, n * mlp[l].out);
    in = out;
    ld_in = ld_out;
  }
}

}  // namespace

struct SuperGlueNetwork::Impl {
  SuperGlueOptions options;
  int threads = 1;
  std::string source;
  int dim = 0;
  std::vector<glue::Linear> encoder;  // keypoint encoder (x, y, score) -> D
  std::vector<GnnLayer> layers;
  glue::Linear final_proj;
  float bin_score = 0.f;

  // desc (n x D) += keypoint encoding of (normalised keypoints, scores).
  void Encode(const Features& f, std::vector<float>* desc) const {
    const int64_t n = f.size();
    VIGIL_CHECK(f.image_width > 0 && f.image_height > 0,
                "superglue: features have no image size (image_width/image_height are needed to "
                "normalise the keypoints)");
    VIGIL_CHECK(f.scores.size() == n, "superglue: {} keypoints but {} scores", n, f.scores.size());
    const float w = static_cast<float>(f.image_width), h = static_cast<float>(f.image_height);
    const float scaling = std::max(w, h) * 0.7f;
    std::vector<float> input(static_cast<size_t>(n * 3));
    for (int64_t i = 0; i < n; ++i) {
      input[i * 3 + 0] = (f.keypoints(i, 0) - w / 2) / scaling;
      input[i * 3 + 1] = (f.keypoints(i, 1) - h / 2) / scaling;
      input[i * 3 + 2] = f.scores[i];
    }
    std::vector<float> encoding(static_cast<size_t>(n * dim)), a, b;
    RunMlp(encoder, input.data(), n, 3, encoding.data(), dim, &a, &b, threads);
    desc->assign(f.descriptors.data(), f.descriptors.data() + n * dim);
    for (size_t k = 0; k < desc->size(); ++k) (*desc)[k] += encoding[k];
  }
};

SuperGlueNetwork::SuperGlueNetwork(const io::StateDict& weights, const SuperGlueOptions& options,
                                   int num_threads)
    : impl_(std::make_unique<Impl>()) {
  options.Check();
  Impl& m = *impl_;
  m.options = options;
  m.threads = std::max(1, num_threads);
  m.source = weights.source();
  m.final_proj = glue::LoadLinear(weights, "final_proj");
  m.dim = static_cast<int>(m.final_proj.out);
  VIGIL_CHECK(m.final_proj.in == m.dim && m.dim % kNumHeads == 0,
              "{}: 'final_proj.weight' must be square with a size divisible by {} heads, got [{}, {}]",
              m.source, kNumHeads, m.final_proj.out, m.final_proj.in);
  m.encoder = LoadMlp(weights, "kenc.encoder");
  VIGIL_CHECK(m.encoder.front().in == 3 && m.encoder.back().out == m.dim,
              "{}: keypoint encoder maps {} -> {} channels, expected 3 -> {}", m.source,
              m.encoder.front().in, m.encoder.back().out, m.dim);
  const nn::Tensor& bin = weights.Get("bin_score");
  VIGIL_CHECK(bin.numel() == 1, "{}: 'bin_score' has shape {}, expected a scalar", m.source,
              bin.ShapeString());
  m.bin_score = bin.data[0];
  for (int i = 0;; ++i) {
    const std::string p = "gnn.layers." + std::to_string(i);
    if (!weights.Contains(p + ".attn.merge.weight")) break;
    GnnLayer layer;
    layer.cross = i % 2 == 1;  // self, cross, self, cross, ... as in every released model
    std::vector<glue::Linear> proj;
    for (int k = 0; k < 3; ++k) {
      proj.push_back(glue::LoadLinear(weights, p + ".attn.proj." + std::to_string(k), m.dim, m.dim));
      PermuteOutputRows(&proj.back());
    }
    layer.qkv = glue::ConcatOutputs(proj);
    layer.merge = glue::LoadLinear(weights, p + ".attn.merge", m.dim, m.dim);
    PermuteInputColumns(&layer.merge);
    std::vector<glue::Linear> mlp = LoadMlp(weights, p + ".mlp");
    VIGIL_CHECK(mlp.size() == 2 && mlp[0].in == 2 * m.dim && mlp[1].out == m.dim,
                "{}: '{}.mlp' is not the [2D, 2D, D] MLP of SuperGlue", m.source, p);
    layer.mlp0 = mlp[0];
    layer.mlp1 = mlp[1];
    m.layers.push_back(std::move(layer));
  }
  VIGIL_CHECK(!m.layers.empty(), "{}: missing tensor 'gnn.layers.0.attn.merge.weight'", m.source);
}

SuperGlueNetwork::~SuperGlueNetwork() = default;

int SuperGlueNetwork::descriptor_dim() const { return impl_->dim; }
int SuperGlueNetwork::num_layers() const { return static_cast<int>(impl_->layers.size()); }

SuperGlueOutput SuperGlueNetwork::Run(const Features& f0, const Features& f1) const {
  const Impl& m = *impl_;
  const auto start = std::chrono::steady_clock::now();
  const int64_t n0 = f0.size(), n1 = f1.size(), dim = m.dim;
  for (const Features* f : {&f0, &f1}) {
    VIGIL_CHECK(f->size() == 0 || (!f->is_binary() && f->descriptor_dim() == dim),
                "superglue: weights {} expect {}-d float descriptors, but extractor '{}' gives {}{}",
                m.source, dim, f->extractor, f->descriptor_dim(), f->is_binary() ? " bytes" : "-d");
  }
  SuperGlueOutput out;
  if (n0 == 0 || n1 == 0) {
    const auto none = glue::ExtractMutualMatches(nullptr, n0, n1, n1 + 1, m.options.match_threshold);
    out.matches.matches0 = none.matches0;
    out.matches.confidence0 = none.scores0;
    out.scores0 = none.scores0;
    out.scores1 = none.scores1;
    out.log_assignment.assign(static_cast<size_t>((n0 + 1) * (n1 + 1)), 0.f);
    FillReverseMatches(static_cast<int>(n1), &out.matches);
    out.matches.timings_ms["superglue.total"] = MsSince(start);
    return out;
  }
  glue::ScopedSingleThreadedBlas blas;
  const int threads = m.threads;

  // Keypoint encoder.
  std::vector<float> desc[2];
  m.Encode(f0, &desc[0]);
  m.Encode(f1, &desc[1]);
  out.matches.timings_ms["superglue.encoder"] = MsSince(start);

  // Attentional GNN: both images' updates are computed from the same inputs, then applied.
  const auto gnn_start = std::chrono::steady_clock::now();
  const int64_t n[2] = {n0, n1};
  const int head_dim = static_cast<int>(dim) / kNumHeads;
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> qkv[2], concat, hidden, delta[2];
  for (const GnnLayer& layer : m.layers) {
    for (int a = 0; a < 2; ++a) {
      qkv[a].resize(static_cast<size_t>(n[a] * 3 * dim));
      layer.qkv.Forward(desc[a].data(), n[a], dim, qkv[a].data(), 3 * dim, threads);
    }
    for (int a = 0; a < 2; ++a) {
      const int s = layer.cross ? 1 - a : a;
      std::vector<float> message(static_cast<size_t>(n[a] * dim));
      glue::MultiHeadAttention(qkv[a].data(), 3 * dim, qkv[s].data() + dim, 3 * dim,
                               qkv[s].data() + 2 * dim, 3 * dim, n[a], n[s], kNumHeads, head_dim,
                               scale, message.data(), dim, threads);
      // MLP([x, merge(message)]).
      concat.resize(static_cast<size_t>(n[a] * 2 * dim));
      for (int64_t i = 0; i < n[a]; ++i) {
        std::copy_n(desc[a].data() + i * dim, dim, concat.data() + i * 2 * dim);
      }
      layer.merge.Forward(message.data(), n[a], dim, concat.data() + dim, 2 * dim, threads);
      hidden.resize(static_cast<size_t>(n[a] * 2 * dim));
      layer.mlp0.Forward(concat.data(), n[a], 2 * dim, hidden.data(), 2 * dim, threads);
      glue::ReluInPlace(hidden.data(), static_cast<int64_t>(hidden.size()));
      delta[a].resize(static_cast<size_t>(n[a] * dim));
      layer.mlp1.Forward(hidden.data(), n[a], 2 * dim, delta[a].data(), dim, threads);
    }
    for (int a = 0; a < 2; ++a) {
      for (size_t k = 0; k < desc[a].size(); ++k) desc[a][k] += delta[a][k];
    }
  }
  out.matches.timings_ms["superglue.gnn"] = MsSince(gnn_start);

  // Final projection, scores / sqrt(D), dustbins, log-domain optimal transport.
  const auto ot_start = std::chrono::steady_clock::now();
  std::vector<float> mdesc[2];
  for (int a = 0; a < 2; ++a) {
    mdesc[a].resize(static_cast<size_t>(n[a] * dim));
    m.final_proj.Forward(desc[a].data(), n[a], dim, mdesc[a].data(), dim, threads);
  }
  const int64_t cols = n1 + 1;
  std::vector<float>& z = out.log_assignment;
  z.resize(static_cast<size_t>((n0 + 1) * cols));
  const float inv_sqrt_dim = 1.f / std::sqrt(static_cast<float>(dim));
  glue::ParallelFor(threads, n0, 32, [&](int64_t begin, int64_t end) {
    glue::Gemm(false, true, end - begin, n1, dim, inv_sqrt_dim, mdesc[0].data() + begin * dim,
               dim, mdesc[1].data(), dim, 0.f, z.data() + begin * cols, cols);
  });
  for (int64_t i = 0; i <= n0; ++i) z[i * cols + n1] = m.bin_score;
  std::fill_n(z.data() + n0 * cols, cols, m.bin_score);
  // Marginals as in the reference: 1/(M+N) per keypoint, N/(M+N) and M/(M+N) for the dustbins.
  const float norm = -std::log(static_cast<float>(n0 + n1));
  std::vector<float> log_mu(n0 + 1, norm), log_nu(n1 + 1, norm);
  log_mu[n0] = std::log(static_cast<float>(n1)) + norm;
  log_nu[n1] = std::log(static_cast<float>(n0)) + norm;
  glue::LogSinkhorn(z.data(), n0 + 1, cols, log_mu.data(), log_nu.data(),
                    m.options.sinkhorn_iterations, threads);
  for (float& value : z) value -= norm;  // probabilities times M+N, as the reference returns
  out.matches.timings_ms["superglue.sinkhorn"] = MsSince(ot_start);

  const auto extracted =
      glue::ExtractMutualMatches(z.data(), n0, n1, cols, m.options.match_threshold);
  out.scores0 = extracted.scores0;
  out.scores1 = extracted.scores1;
  out.matches.matches0 = extracted.matches0;
  out.matches.confidence0.assign(n0, 0.f);
  for (int64_t i = 0; i < n0; ++i) {
    if (extracted.matches0[i] >= 0) out.matches.confidence0[i] = std::min(1.f, extracted.scores0[i]);
  }
  FillReverseMatches(static_cast<int>(n1), &out.matches);
  out.matches.timings_ms["superglue.total"] = MsSince(start);
  return out;
}

namespace {

class SuperGlueMatcher : public Matcher {
 public:
  explicit SuperGlueMatcher(const MatcherOptions& options) {
    const SuperGlueOptions& sg = options.superglue;
    const std::string file = "superglue/superglue_" + sg.weights_name + ".pth";
    const auto path = FindModelFile(
        sg.weights, {{file}, "SuperGlue " + sg.weights_name + " weights",
                     "https://github.com/magicleap/SuperGluePretrainedNetwork (models/weights/"
                     "superglue_" + sg.weights_name + ".pth)"});
    set_model_files({path});
    network_ = std::make_unique<SuperGlueNetwork>(io::LoadTorchCheckpoint(path), sg,
                                                  options.num_threads);
  }
  Matches Match(const Features& features0, const Features& features1) override {
    return network_->Run(features0, features1).matches;
  }
  std::string name() const override { return "superglue"; }

 private:
  std::unique_ptr<SuperGlueNetwork> network_;
};

}  // namespace

void SuperGlueOptions::Check() const {
  VIGIL_CHECK_OPTION(weights_name == "indoor" || weights_name == "outdoor", "superglue.weights_name",
                     "must be indoor or outdoor");
  VIGIL_CHECK_OPTION(sinkhorn_iterations >= 0, "sinkhorn_iterations", "must be >= 0");
  VIGIL_CHECK_OPTION(match_threshold >= 0 && match_threshold < 1, "match_threshold",
                     "must be in [0, 1)");
}

std::unique_ptr<Matcher> CreateSuperGlueMatcher(const MatcherOptions& options) {
  return std::make_unique<SuperGlueMatcher>(options);
}

}  // namespace vigil
