#include "vigil/inspection/panel.h"

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "vigil/report/draw.h"

namespace vigil {
namespace {

const cv::Scalar kGreen(60, 200, 60), kRed(40, 40, 230), kBlue(230, 120, 30),
    kOrange(0, 150, 255), kWhite(255, 255, 255), kYellow(0, 230, 230), kGrey(170, 170, 170);

cv::Scalar SegmentColor(size_t k) {
  // Distinct hues for neighbouring segments (golden-angle steps in HSV).
  const int hue = static_cast<int>((k * 137.508) * 180.0 / 360.0) % 180;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 200, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])};
}

void Tint(cv::Mat& canvas, const cv::Mat& mask, cv::Scalar color, double alpha) {
  cv::Mat colored(canvas.size(), canvas.type(), color);
  cv::Mat blended;
  cv::addWeighted(canvas, 1.0 - alpha, colored, alpha, 0, blended);
  blended.copyTo(canvas, mask);
}

void Outline(cv::Mat& canvas, const cv::Mat& mask, cv::Scalar color, int thickness) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  cv::drawContours(canvas, contours, -1, color, thickness, cv::LINE_AA);
}

void DrawPoints(cv::Mat& canvas, const Features& features, const std::vector<int>& indices,
                cv::Scalar color) {
  for (int i : indices) {
    cv::circle(canvas, {cvRound(features.keypoints(i, 0)), cvRound(features.keypoints(i, 1))}, 3,
               color, -1, cv::LINE_AA);
  }
}

cv::Scalar AnomalyColor(const Anomaly& a) {
  if (a.kind == "missing") return kBlue;
  return a.source == "cluster" ? kOrange : kRed;
}

void DrawAnomalies(cv::Mat& canvas, const ChangeDetectionResult& result) {
  for (const Anomaly& a : result.anomalies) {
    Tint(canvas, a.mask, AnomalyColor(a), 0.35);
    Outline(canvas, a.mask, AnomalyColor(a), 2);
    cv::putText(canvas, fmt::format("{} {}", a.kind == "missing" ? "missing" : a.label, 
                                    fmt::format("{:.2f}", a.score)),
                {a.bbox.x + 3, std::max(14, a.bbox.y - 4)}, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                AnomalyColor(a), 2, cv::LINE_AA);
  }
  if (result.localization_error) {
    report::DrawCaption(canvas, "LIKELY LOCALIZATION ERROR: " + result.note);
  }
}

// Anomalies a further reference view (second view or dense map) did not confirm: outlined in
// grey, not tinted.
void DrawUnconfirmed(cv::Mat& canvas, const ChangeDetectionResult& result) {
  for (const Anomaly& a : result.unconfirmed) {
    Outline(canvas, a.mask, kGrey, 1);
    cv::putText(canvas, "unconfirmed", {a.bbox.x + 3, std::max(14, a.bbox.y - 4)},
                cv::FONT_HERSHEY_SIMPLEX, 0.4, kGrey, 1, cv::LINE_AA);
  }
}

cv::Mat Legend(cv::Size size) {
  cv::Mat canvas(size, CV_8UC3, cv::Scalar(40, 40, 40));
  const std::vector<std::pair<cv::Scalar, std::string>> rows = {
      {kGreen, "matched keypoint"},     {kRed, "unmatched keypoint / new object"},
      {kYellow, "unmatched, but the reference explains it"},
      {kOrange, "DBSCAN cluster (unknown class)"}, {kBlue, "missing object (from reference)"},
      {kGrey, "not confirmed by further reference views"},
      {kWhite, "overlap with reference"}};
  int y = 40;
  for (const auto& [color, text] : rows) {
    cv::circle(canvas, {24, y - 5}, 7, color, -1, cv::LINE_AA);
    cv::putText(canvas, text, {40, y}, cv::FONT_HERSHEY_SIMPLEX, 0.5, kWhite, 1, cv::LINE_AA);
    y += 30;
  }
  return canvas;
}

}  // namespace

cv::Mat RenderAnomalyOverlay(const cv::Mat& query, const ChangeDetectionResult& result) {
  cv::Mat canvas = report::ToBgr(query);
  DrawAnomalies(canvas, result);
  return canvas;
}

namespace {

// The score as a JET heat map over the darkened query: 0 blue, the threshold mid-scale, twice
// the threshold and above red.
cv::Mat HeatMap(const cv::Mat& query, const cv::Mat& score, double threshold) {
  cv::Mat scaled, colour, out;
  score.convertTo(scaled, CV_8U, 127.5 / std::max(threshold, 1e-6));
  cv::applyColorMap(scaled, colour, cv::COLORMAP_JET);
  if (colour.size() != query.size()) cv::resize(colour, colour, query.size());
  cv::addWeighted(query, 0.4, colour, 0.6, 0, out);
  return out;
}

}  // namespace

cv::Mat RenderInspectionPanel(const PanelInput& in) {
  const Features& f = *in.query_features;
  const ChangeDetectionResult& result = *in.result;
  const cv::Mat query = report::ToBgr(in.query);
  std::vector<cv::Mat> tiles;
  auto add = [&](cv::Mat tile, const std::string& caption) {
    report::DrawCaption(tile, caption);
    tiles.push_back(tile);
  };
  add(query.clone(), "query");
  cv::Mat reference = report::ToBgr(in.reference);
  cv::resize(reference, reference, query.size());
  add(reference, "reference");

  std::vector<int> matched, unmatched;
  for (int i = 0; i < f.size(); ++i) (in.matches->matches0[i] >= 0 ? matched : unmatched).push_back(i);
  cv::Mat all_points = query.clone();
  DrawPoints(all_points, f, matched, kGreen);
  DrawPoints(all_points, f, unmatched, kRed);
  add(all_points, fmt::format("all keypoints: {} matched, {} unmatched", matched.size(), unmatched.size()));

  cv::Mat masked = query.clone();
  Tint(masked, ~result.overlap.mask, cv::Scalar(0, 0, 0), 0.6);
  if (result.overlap.polygon.size() >= 3) {
    cv::polylines(masked, result.overlap.polygon, true, kWhite, 2, cv::LINE_AA);
  }
  DrawPoints(masked, f, result.matched_in_overlap, kGreen);
  DrawPoints(masked, f, result.unmatched_in_overlap, kRed);
  DrawPoints(masked, f, result.explained, kYellow);
  add(masked, fmt::format("overlap ({}): {:.0f}%; {} explained", result.overlap.method,
                          100 * result.overlap.area_fraction, result.explained.size()));

  const std::vector<Instance> none;
  const auto& instances = in.instances ? *in.instances : none;
  if (!in.dense_score.empty()) {
    add(HeatMap(query, in.dense_score, in.dense_threshold),
        fmt::format("dense score (threshold {:.2f} mid-scale)", in.dense_threshold));
  } else {
    cv::Mat segments = query.clone();
    for (size_t k = 0; k < instances.size(); ++k) {
      Tint(segments, instances[k].mask, SegmentColor(k), 0.45);
      Outline(segments, instances[k].mask, SegmentColor(k), 1);
    }
    add(segments, fmt::format("segments: {}", instances.size()));
  }

  cv::Mat selected = query.clone();
  for (int k : result.instance_hits) {
    Tint(selected, instances[k].mask, kRed, 0.45);
    Outline(selected, instances[k].mask, kRed, 2);
  }
  DrawPoints(selected, f, result.cluster_points, kOrange);
  add(selected, fmt::format("selected segments: {}; left for DBSCAN: {}",
                            result.instance_hits.size(), result.cluster_points.size()));

  cv::Mat final_view = RenderAnomalyOverlay(query, result);
  DrawUnconfirmed(final_view, result);
  tiles.push_back(final_view);
  if (!result.localization_error) {
    report::DrawCaption(tiles.back(), fmt::format("anomalies: {}", result.anomalies.size()));
  }
  tiles.push_back(Legend(query.size()));

  const cv::Size tile_size(query.cols / 2, query.rows / 2);
  cv::Mat panel(tile_size.height * 2, tile_size.width * 4, CV_8UC3, cv::Scalar(0, 0, 0));
  for (size_t k = 0; k < tiles.size(); ++k) {
    cv::Mat small;
    cv::resize(tiles[k], small, tile_size, 0, 0, cv::INTER_AREA);
    small.copyTo(panel(cv::Rect(static_cast<int>(k % 4) * tile_size.width,
                                static_cast<int>(k / 4) * tile_size.height, tile_size.width,
                                tile_size.height)));
  }
  return panel;
}

}  // namespace vigil
