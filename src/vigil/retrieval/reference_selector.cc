#include "vigil/retrieval/reference_selector.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include <nanoflann.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"

namespace vigil::retrieval {
namespace {

// nanoflann reads the reference positions through this adaptor (no copy into its own format).
struct PositionCloud {
  std::vector<Eigen::Vector3d> points;
  std::vector<int> frame_index;  // reference frame of each point (frames without pose skipped)
  size_t kdtree_get_point_count() const { return points.size(); }
  double kdtree_get_pt(size_t i, size_t dim) const { return points[i][static_cast<int>(dim)]; }
  template <class BBox>
  bool kdtree_get_bbox(BBox&) const {
    return false;
  }
};

using KdTree = nanoflann::KDTreeSingleIndexAdaptor<
    nanoflann::L2_Simple_Adaptor<double, PositionCloud>, PositionCloud, 3, size_t>;

constexpr int kGridCells = 4;  // HOG-like part: kGridCells x kGridCells cells
constexpr int kOrientationBins = 8;

// Scales data[0..n) to length `scale`. Values are on a [0, 1] intensity scale; below an RMS of
// 1e-5 the input is flat up to rounding noise and normalising would amplify that noise.
void NormaliseInPlace(float* data, size_t n, float scale) {
  double sum_sq = 0;
  for (size_t i = 0; i < n; ++i) sum_sq += static_cast<double>(data[i]) * data[i];
  if (sum_sq <= 1e-10 * static_cast<double>(n)) {
    std::fill(data, data + n, 0.f);  // flat image: this half says nothing
    return;
  }
  const float factor = static_cast<float>(scale / std::sqrt(sum_sq));
  for (size_t i = 0; i < n; ++i) data[i] *= factor;
}

// Direction of travel at each posed frame of `run` (unit vector; zero where unknown): the
// central difference of its neighbours' positions in run order, one-sided at the ends.
std::vector<Eigen::Vector3d> TravelDirections(const Run& run) {
  std::vector<int> posed;
  for (size_t i = 0; i < run.frames.size(); ++i) {
    if (run.frames[i].pose) posed.push_back(static_cast<int>(i));
  }
  std::vector<Eigen::Vector3d> directions(run.frames.size(), Eigen::Vector3d::Zero());
  if (posed.size() < 2) return directions;
  for (size_t k = 0; k < posed.size(); ++k) {
    const int before = posed[k == 0 ? 0 : k - 1];
    const int after = posed[k + 1 == posed.size() ? k : k + 1];
    const Eigen::Vector3d step =
        run.frames[after].pose->position - run.frames[before].pose->position;
    if (step.norm() > 1e-9) directions[posed[k]] = step.normalized();
  }
  return directions;
}

}  // namespace

PoseTieBreak ParsePoseTieBreak(const std::string& name, const std::string& option) {
  if (name == "path") return PoseTieBreak::kPath;
  if (name == "matches") return PoseTieBreak::kMatches;
  if (name == "nearest") return PoseTieBreak::kNearest;
  throw Error(fmt::format("{}: unknown tie-break '{}' (expected path, matches or nearest)", option,
                          name));
}

const char* ToString(PoseTieBreak tie_break) {
  switch (tie_break) {
    case PoseTieBreak::kPath:
      return "path";
    case PoseTieBreak::kMatches:
      return "matches";
    case PoseTieBreak::kNearest:
      return "nearest";
  }
  return "?";
}

void ReferenceSelectorOptions::Check() const {
  VIGIL_CHECK_OPTION(max_distance_m > 0 && std::isfinite(max_distance_m), "max_distance_m",
                     "must be a positive number of metres");
  VIGIL_CHECK_OPTION(max_angle_deg >= 0 && max_angle_deg <= 180, "max_angle_deg",
                     "must be in [0, 180] degrees");
  VIGIL_CHECK_OPTION(pose_tie_ratio >= 1 && std::isfinite(pose_tie_ratio), "pose_tie_ratio",
                     "must be >= 1");
  VIGIL_CHECK_OPTION(max_pose_ties >= 1, "max_pose_ties", "must be >= 1");
  VIGIL_CHECK_OPTION(appearance_top_k >= 1, "appearance_top_k", "must be >= 1");
  VIGIL_CHECK_OPTION(min_verified_matches >= 0, "min_verified_matches", "must be >= 0");
  VIGIL_CHECK_OPTION(thumbnail_width >= 8 && thumbnail_height >= 8, "thumbnail_width/height",
                     fmt::format("must be >= 8 pixels, got {}x{}", thumbnail_width, thumbnail_height));
  VIGIL_CHECK_OPTION(appearance_descriptor == "thumbnail" || appearance_descriptor == "gem",
                     "appearance_descriptor",
                     fmt::format("must be thumbnail or gem, got '{}'", appearance_descriptor));
  if (appearance_descriptor == "gem") place.Check();
}

std::vector<float> GlobalDescriptor(const cv::Mat& image, const ReferenceSelectorOptions& options) {
  VIGIL_CHECK(!image.empty(), "global descriptor: empty image");
  cv::Mat gray;
  if (image.channels() == 3) {
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  } else if (image.channels() == 4) {
    cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
  } else {
    VIGIL_CHECK(image.channels() == 1, "global descriptor: {} channels not supported",
                image.channels());
    gray = image;
  }
  // Intensities on a [0, 1] scale, whatever the depth, so that "flat" means the same for all.
  const double scale = gray.depth() == CV_8U ? 1.0 / 255 : gray.depth() == CV_16U ? 1.0 / 65535 : 1.0;
  cv::Mat gray_f;
  gray.convertTo(gray_f, CV_32F, scale);
  cv::Mat thumb;
  cv::resize(gray_f, thumb, cv::Size(options.thumbnail_width, options.thumbnail_height), 0, 0,
             cv::INTER_AREA);
  // A light blur so that sub-pixel viewpoint changes do not flip the gradient orientations.
  cv::GaussianBlur(thumb, thumb, cv::Size(3, 3), 0.8);

  const size_t n_pixels = thumb.total();
  const size_t n_hog = kGridCells * kGridCells * kOrientationBins;
  std::vector<float> descriptor(n_pixels + n_hog, 0.f);

  // Half 1: mean-removed thumbnail (cosine = normalised cross-correlation).
  const double mean = cv::mean(thumb)[0];
  for (int y = 0; y < thumb.rows; ++y) {
    const float* row = thumb.ptr<float>(y);
    for (int x = 0; x < thumb.cols; ++x) {
      descriptor[static_cast<size_t>(y) * thumb.cols + x] = static_cast<float>(row[x] - mean);
    }
  }
  NormaliseInPlace(descriptor.data(), n_pixels, static_cast<float>(M_SQRT1_2));

  // Half 2: gradient-orientation histograms on a coarse grid, weighted by magnitude.
  cv::Mat dx, dy;
  cv::Sobel(thumb, dx, CV_32F, 1, 0, 3);
  cv::Sobel(thumb, dy, CV_32F, 0, 1, 3);
  float* hog = descriptor.data() + n_pixels;
  for (int y = 0; y < thumb.rows; ++y) {
    const int cy = std::min(kGridCells - 1, y * kGridCells / thumb.rows);
    for (int x = 0; x < thumb.cols; ++x) {
      const int cx = std::min(kGridCells - 1, x * kGridCells / thumb.cols);
      const float gx = dx.at<float>(y, x), gy = dy.at<float>(y, x);
      const float magnitude = std::sqrt(gx * gx + gy * gy);
      if (magnitude <= 0) continue;
      double angle = std::atan2(gy, gx);  // signed: a gain change never flips a gradient
      if (angle < 0) angle += 2 * M_PI;
      // Linear interpolation between the two nearest bins avoids jumps at bin borders.
      const double pos = angle / (2 * M_PI) * kOrientationBins;
      const int b0 = static_cast<int>(std::floor(pos)) % kOrientationBins;
      const int b1 = (b0 + 1) % kOrientationBins;
      const float w1 = static_cast<float>(pos - std::floor(pos));
      float* cell = hog + (cy * kGridCells + cx) * kOrientationBins;
      cell[b0] += magnitude * (1 - w1);
      cell[b1] += magnitude * w1;
    }
  }
  NormaliseInPlace(hog, n_hog, static_cast<float>(M_SQRT1_2));
  return descriptor;
}

AppearanceDescriber::AppearanceDescriber(const ReferenceSelectorOptions& options,
                                         bool allow_fallback)
    : options_(options), kind_("thumbnail") {
  options_.Check();
  if (options_.appearance_descriptor == "gem") {
    try {
      place_ = std::make_unique<PlaceDescriber>(options_.place);
      kind_ = "gem";
      gem_dim_ = static_cast<size_t>(place_->dim());
      dim_ = gem_dim_;
      if (options_.place.fuse_thumbnail) {
        dim_ += GlobalDescriptor(cv::Mat::zeros(8, 8, CV_8U), options_).size();
      }
    } catch (const Error& e) {
      if (!allow_fallback) throw;
      fallback_reason_ = fmt::format("gem descriptor unavailable, thumbnail used: {}", e.what());
    }
  }
  if (!place_) dim_ = GlobalDescriptor(cv::Mat::zeros(8, 8, CV_8U), options_).size();
}

AppearanceDescriber::~AppearanceDescriber() = default;
AppearanceDescriber::AppearanceDescriber(AppearanceDescriber&&) noexcept = default;
AppearanceDescriber& AppearanceDescriber::operator=(AppearanceDescriber&&) noexcept = default;

std::vector<float> AppearanceDescriber::Describe(const cv::Mat& image) {
  if (!place_) return GlobalDescriptor(image, options_);
  std::vector<float> d = place_->Describe(image, "appearance descriptor");
  if (options_.place.fuse_thumbnail) {
    const std::vector<float> thumbnail = GlobalDescriptor(image, options_);
    d.insert(d.end(), thumbnail.begin(), thumbnail.end());
  }
  return d;
}

std::filesystem::path AppearanceDescriber::model_file() const {
  return place_ ? place_->model_file() : std::filesystem::path();
}

double DescriptorSimilarity(const std::vector<float>& a, const std::vector<float>& b) {
  VIGIL_CHECK(a.size() == b.size(), "global descriptors of different sizes ({} vs {})", a.size(),
              b.size());
  double dot = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += static_cast<double>(a[i]) * b[i];
  return dot;
}

struct ReferenceSelector::Impl {
  Run reference_copy;  // a copy: the caller may drop its Run
  ReferenceSelectorOptions options;
  PositionCloud cloud;
  std::unique_ptr<KdTree> tree;
  std::vector<Eigen::Vector3d> travel;  // direction of travel per reference frame (or zero)
  std::vector<std::vector<float>> descriptors;  // lazily computed, one per reference frame
  std::unique_ptr<AppearanceDescriber> describer;  // created the first time appearance is used
  PcaWhitening whitening;                   // gem with place.whitening "pca": learned on them
  std::vector<std::vector<float>> ranked;   // the reference descriptors compared (whitened)

  AppearanceDescriber& Describer() {
    if (!describer) describer = std::make_unique<AppearanceDescriber>(options, true);
    return *describer;
  }
  // What ReferenceChoice::descriptor says.
  std::string DescriptorLabel() {
    AppearanceDescriber& d = Describer();
    return d.fallback_reason().empty() ? d.kind() : d.kind() + " (gem unavailable)";
  }

  // Sets choice->reference_index (and rule, verified_matches) from the pose candidates,
  // nearest first: the nearest, or among the near-ties the one options.pose_tie_break picks.
  void BreakPoseTie(const Pose& query_pose, int query_index,
                    const std::vector<PoseCandidate>& candidates, const VerifyFn& verify,
                    ReferenceChoice* choice) const {
    choice->reference_index = candidates[0].reference_index;
    choice->rule = "pose";
    size_t n_ties = 1;
    while (n_ties < candidates.size() && n_ties < static_cast<size_t>(options.max_pose_ties) &&
           candidates[n_ties].distance_m <= candidates[0].distance_m * options.pose_tie_ratio) {
      ++n_ties;
    }
    if (n_ties < 2) return;
    if (options.pose_tie_break == PoseTieBreak::kPath) {
      choice->rule = "pose+path";
      for (size_t i = 0; i < n_ties; ++i) {  // nearest first
        const int r = candidates[i].reference_index;
        const Eigen::Vector3d ahead = query_pose.position - reference_copy.frames[r].pose->position;
        if (ahead.dot(travel[r]) > 0) {  // the query lies ahead of this reference
          choice->reference_index = r;
          return;
        }
      }
    } else if (options.pose_tie_break == PoseTieBreak::kMatches && verify) {
      choice->rule = "pose+matches";
      int best = -1;
      for (size_t i = 0; i < n_ties; ++i) {
        const int n = verify(query_index, candidates[i].reference_index);
        if (n > best) {  // strict: equal counts keep the nearer reference
          best = n;
          choice->reference_index = candidates[i].reference_index;
        }
      }
      choice->verified_matches = best;
    }
  }

  // Learns the whitening on the reference descriptors, once they are known.
  void PrepareRanking() {
    whitening = PcaWhitening();
    const size_t gem_dim = Describer().gem_dim();
    if (gem_dim > 0 && options.place.whitening == "pca") {
      std::vector<std::vector<float>> gem;
      for (const std::vector<float>& d : descriptors) gem.emplace_back(d.begin(), d.begin() + gem_dim);
      whitening = PcaWhitening::Learn(gem, options.place.whitening_shrinkage);
    }
    ranked.clear();
    for (const std::vector<float>& d : descriptors) ranked.push_back(Transform(d));
  }

  // A stored descriptor in the space compared: for gem, its GeM part whitened and, when the
  // thumbnail is fused, the thumbnail part appended, both halves weighted 1/sqrt(2) (unit length:
  // the cosine is the mean of the two cosines).
  std::vector<float> Transform(const std::vector<float>& raw) {
    const size_t gem_dim = Describer().gem_dim();
    if (gem_dim == 0) return raw;
    std::vector<float> out = whitening.Apply(std::vector<float>(raw.begin(), raw.begin() + gem_dim));
    if (raw.size() == gem_dim) return out;
    out.insert(out.end(), raw.begin() + gem_dim, raw.end());
    for (float& x : out) x *= static_cast<float>(M_SQRT1_2);
    return out;
  }

  // The query's descriptor in the space of `ranked`.
  std::vector<float> QueryDescriptor(const cv::Mat& image) {
    return Transform(Describer().Describe(image));
  }

  void EnsureDescriptors() {
    if (!descriptors.empty()) return;
    std::vector<std::vector<float>> computed;
    computed.reserve(reference_copy.frames.size());
    AppearanceDescriber& d = Describer();
    for (const RunFrame& frame : reference_copy.frames) {
      // Decoded as the inspection decodes it (colour, then the descriptor's own conversion),
      // so that descriptors stored in a map file (map/) are the same numbers.
      computed.push_back(d.Describe(io::ReadImage(frame.image)));
    }
    descriptors = std::move(computed);
    PrepareRanking();
  }
};

std::vector<std::pair<int, double>> ReferenceSelector::RankByAppearance(const cv::Mat& query_image,
                                                                       int top_k) {
  impl_->EnsureDescriptors();
  const std::vector<float> query_descriptor = impl_->QueryDescriptor(query_image);
  std::vector<std::pair<int, double>> ranked;
  for (size_t i = 0; i < impl_->ranked.size(); ++i) {
    ranked.emplace_back(static_cast<int>(i), DescriptorSimilarity(query_descriptor, impl_->ranked[i]));
  }
  const size_t k = std::min(ranked.size(), static_cast<size_t>(std::max(0, top_k)));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k), ranked.end(),
                    [](const auto& a, const auto& b) {
                      return a.second > b.second || (a.second == b.second && a.first < b.first);
                    });
  ranked.resize(k);
  return ranked;
}

void ReferenceSelector::SetReferenceDescriptors(std::vector<std::vector<float>> descriptors) {
  VIGIL_CHECK(descriptors.size() == impl_->reference_copy.frames.size(),
              "{} global descriptors for {} reference frames", descriptors.size(),
              impl_->reference_copy.frames.size());
  const AppearanceDescriber& d = impl_->Describer();
  const size_t dim = d.dim();
  const std::string what =
      d.kind() == "gem"
          ? fmt::format("the gem descriptor (tap {}{})", impl_->options.place.tap,
                        impl_->options.place.fuse_thumbnail ? " + thumbnail" : "")
          : fmt::format("a {}x{} thumbnail", impl_->options.thumbnail_width,
                        impl_->options.thumbnail_height);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    VIGIL_CHECK(descriptors[i].size() == dim,
                "reference frame {}: global descriptor of size {}, expected {} for {}{}", i,
                descriptors[i].size(), dim, what,
                d.fallback_reason().empty() ? "" : " (" + d.fallback_reason() + ")");
  }
  impl_->descriptors = std::move(descriptors);
  impl_->PrepareRanking();
}

ReferenceSelector::ReferenceSelector(const Run& reference, const ReferenceSelectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  options.Check();
  VIGIL_CHECK(!reference.frames.empty(), "{}: reference run has no images",
              reference.dir.string());
  impl_->reference_copy = reference;
  impl_->options = options;
  impl_->travel = TravelDirections(reference);
  for (size_t i = 0; i < reference.frames.size(); ++i) {
    if (!reference.frames[i].pose) continue;
    impl_->cloud.points.push_back(reference.frames[i].pose->position);
    impl_->cloud.frame_index.push_back(static_cast<int>(i));
  }
  if (!impl_->cloud.points.empty()) {
    impl_->tree = std::make_unique<KdTree>(3, impl_->cloud,
                                           nanoflann::KDTreeSingleIndexAdaptorParams(10));
    impl_->tree->buildIndex();
  }
}

const std::string& ReferenceSelector::appearance_descriptor() { return impl_->Describer().kind(); }
const std::string& ReferenceSelector::fallback_reason() {
  return impl_->Describer().fallback_reason();
}

ReferenceSelector::~ReferenceSelector() = default;
ReferenceSelector::ReferenceSelector(ReferenceSelector&&) noexcept = default;
ReferenceSelector& ReferenceSelector::operator=(ReferenceSelector&&) noexcept = default;

std::vector<ReferenceSelector::PoseCandidate> ReferenceSelector::PoseCandidates(
    const Pose& query_pose) const {
  std::vector<PoseCandidate> candidates;
  if (!impl_->tree) return candidates;
  const double query_point[3] = {query_pose.position.x(), query_pose.position.y(),
                                 query_pose.position.z()};
  // nanoflann's L2 adaptor works on squared distances, radius included.
  const double radius_sq = impl_->options.max_distance_m * impl_->options.max_distance_m;
  std::vector<std::pair<size_t, double>> hits;
  impl_->tree->radiusSearch(query_point, radius_sq, hits, nanoflann::SearchParams(32, 0, true));
  for (const auto& [point, dist_sq] : hits) {
    const int frame = impl_->cloud.frame_index[point];
    const double angle = AngleBetweenDeg(query_pose.orientation,
                                         impl_->reference_copy.frames[frame].pose->orientation);
    if (angle > impl_->options.max_angle_deg) continue;
    candidates.push_back({frame, std::sqrt(dist_sq), angle});
  }
  // Sorted by nanoflann already; ties broken by frame order so that results are reproducible.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const PoseCandidate& a, const PoseCandidate& b) {
                     return a.distance_m < b.distance_m ||
                            (a.distance_m == b.distance_m && a.reference_index < b.reference_index);
                   });
  return candidates;
}

ReferenceChoice ReferenceSelector::Select(const RunFrame& query, int query_index,
                                          const VerifyFn& verify, const cv::Mat& query_image) {
  const ReferenceSelectorOptions& options = impl_->options;
  const std::vector<RunFrame>& refs = impl_->reference_copy.frames;
  ReferenceChoice choice;
  auto fill_pose = [&](ReferenceChoice& c) {
    if (c.reference_index < 0 || !query.pose || !refs[c.reference_index].pose) return;
    const Pose& ref_pose = *refs[c.reference_index].pose;
    c.distance_m = (query.pose->position - ref_pose.position).norm();
    c.angle_deg = AngleBetweenDeg(query.pose->orientation, ref_pose.orientation);
  };

  // Rule 1: pose.
  if (options.use_poses && query.pose) {
    const std::vector<PoseCandidate> candidates = PoseCandidates(*query.pose);
    if (!candidates.empty()) {
      impl_->BreakPoseTie(*query.pose, query_index, candidates, verify, &choice);
      for (const PoseCandidate& c : candidates) {
        if (c.reference_index != choice.reference_index) {
          choice.alternatives.push_back(c.reference_index);
        }
      }
      fill_pose(choice);
      return choice;
    }
  }

  // Rule 2: appearance.
  impl_->EnsureDescriptors();
  const cv::Mat image =
      query_image.empty() ? io::ReadImage(query.image) : query_image;
  const std::vector<float> query_descriptor = impl_->QueryDescriptor(image);
  choice.descriptor = impl_->DescriptorLabel();
  std::vector<double> similarity(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    similarity[i] = DescriptorSimilarity(query_descriptor, impl_->ranked[i]);
  }
  std::vector<int> order(refs.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = std::min(order.size(), static_cast<size_t>(options.appearance_top_k));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](int a, int b) {
                      return similarity[a] > similarity[b] ||
                             (similarity[a] == similarity[b] && a < b);
                    });
  if (!verify) {
    choice.reference_index = order[0];
    choice.rule = "appearance";
    choice.appearance_score = similarity[order[0]];
    fill_pose(choice);
    return choice;
  }
  std::vector<std::pair<int, int>> verified;  // (matches, reference), in similarity order
  for (size_t i = 0; i < k; ++i) verified.emplace_back(verify(query_index, order[i]), order[i]);
  // Most matches first; equal counts keep the more similar reference first.
  std::stable_sort(verified.begin(), verified.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  const int best = verified[0].first, best_index = verified[0].second;
  for (size_t i = 1; i < verified.size(); ++i) {
    if (verified[i].first >= options.min_verified_matches) {
      choice.alternatives.push_back(verified[i].second);
    }
  }
  choice.verified_matches = best;
  choice.appearance_score = similarity[best_index];
  if (best < options.min_verified_matches) {
    // No reference looks like this query: reported as such rather than compared to a stranger.
    choice.reference_index = -1;
    choice.rule = "none";
    return choice;
  }
  choice.reference_index = best_index;
  choice.rule = "appearance";
  fill_pose(choice);
  return choice;
}

std::vector<ReferenceChoice> SelectReferences(const Run& reference, const Run& query,
                                              const ReferenceSelectorOptions& options,
                                              const VerifyFn& verify) {
  ReferenceSelector selector(reference, options);
  std::vector<ReferenceChoice> choices;
  choices.reserve(query.frames.size());
  for (size_t i = 0; i < query.frames.size(); ++i) {
    choices.push_back(selector.Select(query.frames[i], static_cast<int>(i), verify));
  }
  return choices;
}

}  // namespace vigil::retrieval
