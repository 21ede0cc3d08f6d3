#include "vigil/eval/anomaly_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil::eval {
namespace {

// A scored sample: `tag` is the label (ROC/F1) or the region id (AUPRO, 0 = normal).
struct Sample {
  float score;
  int32_t tag;
};

// Sorts by descending score so that a sweep visits thresholds from high to low; the groups of
// equal scores are then contiguous, which is what makes ties one ROC step.
void SortDescending(std::vector<Sample>& samples) {
  std::sort(samples.begin(), samples.end(),
            [](const Sample& a, const Sample& b) { return a.score > b.score; });
}

std::vector<Sample> MakeSamples(const std::vector<float>& scores,
                                const std::vector<uint8_t>& labels) {
  VIGIL_CHECK(scores.size() == labels.size(), "metrics: {} scores but {} labels", scores.size(),
              labels.size());
  std::vector<Sample> samples(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    VIGIL_CHECK(std::isfinite(scores[i]), "metrics: score {} is not finite", i);
    samples[i] = {scores[i], labels[i] != 0 ? 1 : 0};
  }
  return samples;
}

double TrapezoidArea(const std::vector<double>& x, const std::vector<double>& y) {
  double area = 0;
  for (size_t i = 1; i < x.size(); ++i) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) * 0.5;
  return area;
}

void CheckMapsAndMasks(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks) {
  VIGIL_CHECK(maps.size() == masks.size(), "pixel metrics: {} score maps but {} masks", maps.size(),
              masks.size());
  VIGIL_CHECK(!maps.empty(), "pixel metrics: no score maps");
  for (size_t i = 0; i < maps.size(); ++i) {
    VIGIL_CHECK(maps[i].type() == CV_32FC1, "pixel metrics: score map {} is not CV_32FC1", i);
    VIGIL_CHECK(masks[i].type() == CV_8UC1, "pixel metrics: mask {} is not CV_8UC1", i);
    VIGIL_CHECK(maps[i].size() == masks[i].size(),
                "pixel metrics: score map {} is {}x{} but its mask is {}x{}", i, maps[i].cols,
                maps[i].rows, masks[i].cols, masks[i].rows);
  }
}

}  // namespace

RocCurve ComputeRoc(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  std::vector<Sample> samples = MakeSamples(scores, labels);
  const size_t positives =
      std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.tag == 1; });
  const size_t negatives = samples.size() - positives;
  VIGIL_CHECK(positives > 0 && negatives > 0,
              "ROC: needs both classes ({} anomalous, {} normal samples)", positives, negatives);
  SortDescending(samples);
  RocCurve roc;
  roc.fpr.push_back(0);
  roc.tpr.push_back(0);
  roc.thresholds.push_back(std::numeric_limits<double>::infinity());
  size_t tp = 0, fp = 0;
  for (size_t i = 0; i < samples.size();) {
    const float threshold = samples[i].score;
    for (; i < samples.size() && samples[i].score == threshold; ++i) {
      (samples[i].tag == 1 ? tp : fp)++;
    }
    roc.fpr.push_back(static_cast<double>(fp) / negatives);
    roc.tpr.push_back(static_cast<double>(tp) / positives);
    roc.thresholds.push_back(threshold);
  }
  return roc;
}

double Auroc(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  const RocCurve roc = ComputeRoc(scores, labels);
  return TrapezoidArea(roc.fpr, roc.tpr);
}

double F1Max(const std::vector<float>& scores, const std::vector<uint8_t>& labels,
             double* best_threshold) {
  std::vector<Sample> samples = MakeSamples(scores, labels);
  const size_t positives =
      std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.tag == 1; });
  VIGIL_CHECK(positives > 0, "F1-max: no anomalous sample among {}", samples.size());
  SortDescending(samples);
  double best = 0, threshold_at_best = std::numeric_limits<double>::infinity();
  size_t tp = 0, fp = 0;
  for (size_t i = 0; i < samples.size();) {
    const float threshold = samples[i].score;
    for (; i < samples.size() && samples[i].score == threshold; ++i) {
      (samples[i].tag == 1 ? tp : fp)++;
    }
    // F1 = 2PR/(P+R) = 2TP / (2TP + FP + FN) = 2TP / (TP + FP + positives).
    const double f1 = 2.0 * tp / static_cast<double>(tp + fp + positives);
    if (f1 > best) {
      best = f1;
      threshold_at_best = threshold;
    }
  }
  if (best_threshold != nullptr) *best_threshold = threshold_at_best;
  return best;
}

double PixelAuroc(const std::vector<cv::Mat>& score_maps, const std::vector<cv::Mat>& masks) {
  CheckMapsAndMasks(score_maps, masks);
  std::vector<float> scores;
  std::vector<uint8_t> labels;
  for (size_t i = 0; i < score_maps.size(); ++i) {
    for (int y = 0; y < score_maps[i].rows; ++y) {
      const float* s = score_maps[i].ptr<float>(y);
      const uint8_t* m = masks[i].ptr<uint8_t>(y);
      scores.insert(scores.end(), s, s + score_maps[i].cols);
      for (int x = 0; x < masks[i].cols; ++x) labels.push_back(m[x] != 0 ? 1 : 0);
    }
  }
  return Auroc(scores, labels);
}

double Aupro(const std::vector<cv::Mat>& score_maps, const std::vector<cv::Mat>& masks,
             double fpr_limit) {
  VIGIL_CHECK(fpr_limit > 0 && fpr_limit <= 1, "AUPRO: fpr_limit must be in (0, 1], got {}",
              fpr_limit);
  CheckMapsAndMasks(score_maps, masks);
  std::vector<Sample> samples;
  std::vector<size_t> region_sizes = {0};  // index 0 = normal pixels
  for (size_t i = 0; i < score_maps.size(); ++i) {
    cv::Mat binary = masks[i] != 0, labels;
    const int count = cv::connectedComponents(binary, labels, 8, CV_32S);
    const int32_t offset = static_cast<int32_t>(region_sizes.size()) - 1;
    region_sizes.resize(region_sizes.size() + count - 1, 0);
    for (int y = 0; y < labels.rows; ++y) {
      const int32_t* l = labels.ptr<int32_t>(y);
      const float* s = score_maps[i].ptr<float>(y);
      for (int x = 0; x < labels.cols; ++x) {
        VIGIL_CHECK(std::isfinite(s[x]), "AUPRO: score map {} has a non-finite value", i);
        const int32_t region = l[x] == 0 ? 0 : l[x] + offset;
        samples.push_back({s[x], region});
        region_sizes[region]++;
      }
    }
  }
  const size_t num_regions = region_sizes.size() - 1;
  const size_t normal_pixels = region_sizes[0];
  VIGIL_CHECK(num_regions > 0, "AUPRO: the masks contain no defect region");
  VIGIL_CHECK(normal_pixels > 0, "AUPRO: the masks contain no normal pixel");
  // Each pixel of region r that crosses the threshold raises the mean overlap by 1/(R |r|).
  std::vector<double> pro_step(region_sizes.size(), 0.0);
  for (size_t r = 1; r < region_sizes.size(); ++r) {
    pro_step[r] = 1.0 / (static_cast<double>(num_regions) * region_sizes[r]);
  }
  SortDescending(samples);
  double area = 0, prev_fpr = 0, prev_pro = 0, pro = 0;
  size_t fp = 0;
  for (size_t i = 0; i < samples.size();) {
    const float threshold = samples[i].score;
    for (; i < samples.size() && samples[i].score == threshold; ++i) {
      if (samples[i].tag == 0) {
        ++fp;
      } else {
        pro += pro_step[samples[i].tag];
      }
    }
    const double fpr = static_cast<double>(fp) / normal_pixels;
    if (fpr >= fpr_limit) {
      // Close the curve at the limit by linear interpolation on the last segment.
      const double t = fpr > prev_fpr ? (fpr_limit - prev_fpr) / (fpr - prev_fpr) : 1.0;
      const double pro_at_limit = prev_pro + t * (pro - prev_pro);
      area += (fpr_limit - prev_fpr) * (prev_pro + pro_at_limit) * 0.5;
      return area / fpr_limit;
    }
    area += (fpr - prev_fpr) * (prev_pro + pro) * 0.5;
    prev_fpr = fpr;
    prev_pro = pro;
  }
  return area / fpr_limit;  // not reached: the last threshold gives FPR = 1
}

}  // namespace vigil::eval
