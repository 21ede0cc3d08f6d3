// Anomaly-detection metrics as the MVTec AD / anomalib literature reports them:
//   - AUROC: area under the ROC curve with the thresholds at the distinct score values, equal to
//     scikit-learn's roc_auc_score (tied scores form one ROC step, i.e. they count 1/2 in the
//     Mann-Whitney sense). Used for image AUROC (one score per image) and pixel AUROC (every
//     pixel of every test image pooled).
//   - AUPRO (Bergmann et al., "The MVTec AD dataset", IJCV 2021; anomalib's AUPRO): the
//     ground-truth masks are split into connected regions (8-connectivity); for each threshold
//     the per-region overlap PRO = mean over regions of the fraction of that region's pixels
//     above the threshold, and the FPR = fraction of all normal pixels above it. The PRO(FPR)
//     curve is integrated with the trapezoid rule from 0 up to the FPR limit (linear
//     interpolation at the limit) and divided by the limit, so a perfect detector scores 1.
//   - F1-max: the best F1 over all thresholds of the precision-recall curve.
// Convention: higher score = more anomalous; label 1 / mask pixel != 0 = anomalous.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace vigil::eval {

// One ROC curve point per distinct threshold, starting at (0, 0) and ending at (1, 1).
struct RocCurve {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;  // score >= threshold counts as positive; first = +inf
};

// ROC of scores against binary labels (0/1). Throws vigil::Error when the sizes differ or one
// class is missing (the AUROC is undefined then).
RocCurve ComputeRoc(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// Area under ComputeRoc (trapezoid), equal to sklearn.metrics.roc_auc_score.
double Auroc(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// max over thresholds of 2PR/(P+R); `best_threshold` (optional) receives the threshold.
// Throws when there is no positive label.
double F1Max(const std::vector<float>& scores, const std::vector<uint8_t>& labels,
             double* best_threshold = nullptr);

// Pixel AUROC over a set of score maps (CV_32F) and masks (CV_8U, != 0 = defect) of equal
// sizes, all pixels pooled. Throws naming the index of a map/mask pair whose sizes differ.
double PixelAuroc(const std::vector<cv::Mat>& score_maps, const std::vector<cv::Mat>& masks);

// AUPRO up to `fpr_limit` (default 0.3), normalised to [0, 1] (see the header comment).
// Throws when there is no defect region or no normal pixel.
double Aupro(const std::vector<cv::Mat>& score_maps, const std::vector<cv::Mat>& masks,
             double fpr_limit = 0.3);

}  // namespace vigil::eval
