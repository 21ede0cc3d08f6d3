#include "vigil/spade/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "vigil/eval/anomaly_metrics.h"
#include "vigil/io/image_io.h"
#include "vigil/spade/pipeline.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::spade {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool HasBothClasses(const std::vector<uint8_t>& labels) {
  const auto positives = std::count(labels.begin(), labels.end(), 1);
  return positives > 0 && positives < static_cast<long>(labels.size());
}

bool MasksHaveDefect(const std::vector<cv::Mat>& masks) {
  for (const cv::Mat& m : masks) {
    if (cv::countNonZero(m) > 0) return true;
  }
  return false;
}

json NumberOrNull(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string Fmt(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "-"; }

// Image- and pixel-level ROC curves on one square plot.
cv::Mat DrawRocPlot(const eval::RocCurve* image_roc, const eval::RocCurve* pixel_roc,
                    const std::string& title) {
  const int size = 420, margin = 50, plot = size - 2 * margin;
  cv::Mat canvas(size, size, CV_8UC3, cv::Scalar(255, 255, 255));
  auto to_px = [&](double fpr, double tpr) {
    return cv::Point(margin + static_cast<int>(fpr * plot),
                     size - margin - static_cast<int>(tpr * plot));
  };
  cv::rectangle(canvas, to_px(0, 1), to_px(1, 0), cv::Scalar(0, 0, 0), 1);
  cv::line(canvas, to_px(0, 0), to_px(1, 1), cv::Scalar(180, 180, 180), 1, cv::LINE_AA);
  auto draw = [&](const eval::RocCurve& roc, const cv::Scalar& color) {
    // Thin out very long curves (pixel ROC) to at most ~2000 segments.
    const size_t step = std::max<size_t>(1, roc.fpr.size() / 2000);
    cv::Point prev = to_px(roc.fpr[0], roc.tpr[0]);
    for (size_t i = step; i < roc.fpr.size() + step; i += step) {
      const size_t j = std::min(i, roc.fpr.size() - 1);
      const cv::Point p = to_px(roc.fpr[j], roc.tpr[j]);
      cv::line(canvas, prev, p, color, 2, cv::LINE_AA);
      prev = p;
    }
  };
  if (image_roc != nullptr) draw(*image_roc, cv::Scalar(200, 80, 0));
  if (pixel_roc != nullptr) draw(*pixel_roc, cv::Scalar(0, 0, 220));
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  cv::putText(canvas, title, cv::Point(8, 30), font, 0.42, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  cv::putText(canvas, "FPR", cv::Point(size / 2 - 15, size - 15), font, 0.5, cv::Scalar(0, 0, 0));
  cv::putText(canvas, "TPR", cv::Point(5, size / 2), font, 0.5, cv::Scalar(0, 0, 0));
  cv::putText(canvas, "image", cv::Point(size - margin - 110, size - margin - 40), font, 0.5,
              cv::Scalar(200, 80, 0), 1, cv::LINE_AA);
  if (pixel_roc != nullptr) {
    cv::putText(canvas, "pixel", cv::Point(size - margin - 110, size - margin - 20), font, 0.5,
                cv::Scalar(0, 0, 220), 1, cv::LINE_AA);
  }
  return canvas;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

}  // namespace

MvtecCategory ReadMvtecCategory(const fs::path& dir) {
  MvtecCategory category;
  category.root = dir;
  category.name = fs::absolute(dir).lexically_normal().filename().string();
  if (category.name.empty()) category.name = fs::absolute(dir).parent_path().filename().string();
  VIGIL_CHECK(fs::is_directory(dir / "train" / "good"),
              "{}: not an MVTec-style category (missing train/good/)", dir.string());
  category.train = ListTrainImages(dir / "train" / "good");
  VIGIL_CHECK(fs::is_directory(dir / "test"), "{}: missing test/ folder", dir.string());
  category.has_ground_truth = fs::is_directory(dir / "ground_truth");
  std::vector<fs::path> defect_dirs;
  for (const auto& entry : fs::directory_iterator(dir / "test")) {
    if (entry.is_directory()) defect_dirs.push_back(entry.path());
  }
  std::sort(defect_dirs.begin(), defect_dirs.end());
  for (const fs::path& defect_dir : defect_dirs) {
    const std::string defect = defect_dir.filename().string();
    for (const fs::path& image : io::ListImages(defect_dir)) {
      MvtecTestImage test{image, defect, {}};
      if (defect != "good" && category.has_ground_truth) {
        test.mask = dir / "ground_truth" / defect / (image.stem().string() + "_mask.png");
        VIGIL_CHECK(fs::is_regular_file(test.mask), "{}: missing ground-truth mask for {}",
                    test.mask.string(), image.string());
      }
      category.tests.push_back(std::move(test));
    }
  }
  VIGIL_CHECK(!category.tests.empty(), "{}: no test images under test/", dir.string());
  return category;
}

std::vector<fs::path> FindMvtecCategories(const fs::path& dir) {
  VIGIL_CHECK(fs::is_directory(dir), "{}: no such folder", dir.string());
  if (fs::is_directory(dir / "train")) return {dir};
  std::vector<fs::path> categories;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && fs::is_directory(entry.path() / "train")) {
      categories.push_back(entry.path());
    }
  }
  std::sort(categories.begin(), categories.end());
  VIGIL_CHECK(!categories.empty(), "{}: no MVTec-style category (a folder with train/good/) found",
              dir.string());
  return categories;
}

cv::Mat ReadMask(const fs::path& mask, cv::Size image_size) {
  cv::Mat m = io::ReadImage(mask, io::ImageMode::kGray);
  if (m.size() == image_size) return m;
  // A mask saved at another resolution of the same picture is resized like the score maps are
  // (to the image's own size; nearest-neighbour keeps it binary). One of another shape belongs
  // to another picture and is refused.
  const double mask_ratio = static_cast<double>(m.cols) / m.rows;
  const double image_ratio = static_cast<double>(image_size.width) / image_size.height;
  VIGIL_CHECK(std::abs(mask_ratio / image_ratio - 1) <= kMaskAspectTolerance,
              "{}: mask is {}x{} but its image is {}x{} (another aspect ratio)", mask.string(),
              m.cols, m.rows, image_size.width, image_size.height);
  cv::Mat resized;
  cv::resize(m, resized, image_size, 0, 0, cv::INTER_NEAREST);
  return resized;
}

cv::Mat MakeOverlay(const cv::Mat& image, const cv::Mat& score_map, float lo, float hi,
                    const cv::Mat& mask) {
  const cv::Mat bgr = io::ToBgr(image);
  cv::Mat resized, scaled, heat, overlay;
  cv::resize(score_map, resized, bgr.size(), 0, 0, cv::INTER_LINEAR);
  const float range = hi > lo ? hi - lo : 1.f;
  resized.convertTo(scaled, CV_8U, 255.0 / range, -255.0 * lo / range);
  cv::applyColorMap(scaled, heat, cv::COLORMAP_JET);
  cv::addWeighted(bgr, 0.5, heat, 0.5, 0, overlay);
  if (!mask.empty()) {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(mask > 0, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    const int thickness = std::max(1, std::min(bgr.cols, bgr.rows) / 200);
    cv::drawContours(overlay, contours, -1, cv::Scalar(0, 255, 0), thickness, cv::LINE_8);
  }
  return overlay;
}

CategoryMetrics EvaluateCategory(const MvtecCategory& category, Backbone& backbone,
                                 const AnomalyDetectorOptions& options,
                                 const EvalOptions& eval_options, const CancelToken* cancel) {
  CategoryMetrics metrics;
  metrics.name = category.name;
  metrics.train_images = static_cast<int>(category.train.size());
  metrics.test_images = static_cast<int>(category.tests.size());

  auto start = std::chrono::steady_clock::now();
  const MemoryBank bank =
      FitMemoryBank(backbone, options, category.train, eval_options.show_progress, cancel);
  metrics.fit_seconds = Seconds(start);
  const auto detector = AnomalyDetector::Create(OptionsForBank(options, bank));

  std::vector<float> scores;
  std::vector<uint8_t> labels;
  std::vector<cv::Mat> maps, masks;
  start = std::chrono::steady_clock::now();
  {
    ProgressBar progress(category.name + " test", category.tests.size(),
                         eval_options.show_progress);
    for (const MvtecTestImage& test : category.tests) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      // Pixel metrics at each image's own size: the map is mapped back to it (ScoreImage) and
      // the mask read at it, so images of different sizes are compared pixel for pixel.
      const cv::Mat image = io::ReadImage(test.image);
      const cv::Mat mask = test.mask.empty() ? cv::Mat::zeros(image.size(), CV_8U)
                                             : ReadMask(test.mask, image.size());
      AnomalyResult result = ScoreImage(backbone, *detector, bank, image, test.image.string());
      scores.push_back(result.image_score);
      labels.push_back(test.defect == "good" ? 0 : 1);
      maps.push_back(result.score_map);
      masks.push_back(mask);
      progress.Advance();
    }
    progress.Finish();
  }
  metrics.score_seconds_per_image = Seconds(start) / static_cast<double>(category.tests.size());

  // Whole category.
  std::unique_ptr<eval::RocCurve> image_roc, pixel_roc;
  if (HasBothClasses(labels)) {
    image_roc = std::make_unique<eval::RocCurve>(eval::ComputeRoc(scores, labels));
    metrics.image_auroc = eval::Auroc(scores, labels);
    metrics.f1_max = eval::F1Max(scores, labels);
  }
  const bool pixel_level = category.has_ground_truth && MasksHaveDefect(masks);
  if (pixel_level) {
    metrics.pixel_auroc = eval::PixelAuroc(maps, masks);
    metrics.aupro = eval::Aupro(maps, masks, eval_options.fpr_limit);
    // The pixel ROC for the plot, from a 1-in-7 pixel subsample (the curve, not the metric).
    std::vector<float> pixel_scores;
    std::vector<uint8_t> pixel_labels;
    for (size_t i = 0; i < maps.size(); ++i) {
      const float* s = maps[i].ptr<float>();
      const uint8_t* m = masks[i].ptr<uint8_t>();
      for (size_t p = i % 7; p < maps[i].total(); p += 7) {
        pixel_scores.push_back(s[p]);
        pixel_labels.push_back(m[p] != 0 ? 1 : 0);
      }
    }
    if (HasBothClasses(pixel_labels)) {
      pixel_roc = std::make_unique<eval::RocCurve>(eval::ComputeRoc(pixel_scores, pixel_labels));
    }
  }

  // Per defect type: the good test images plus that defect's images.
  std::map<std::string, std::vector<size_t>> defect_members;
  std::vector<size_t> good;
  for (size_t i = 0; i < category.tests.size(); ++i) {
    if (category.tests[i].defect == "good") {
      good.push_back(i);
    } else {
      defect_members[category.tests[i].defect].push_back(i);
    }
  }
  for (const auto& [defect, members] : defect_members) {
    DefectMetrics d;
    d.images = static_cast<int>(members.size());
    std::vector<size_t> subset = good;
    subset.insert(subset.end(), members.begin(), members.end());
    std::vector<float> s;
    std::vector<uint8_t> l;
    std::vector<cv::Mat> m, k;
    for (size_t i : subset) {
      s.push_back(scores[i]);
      l.push_back(labels[i]);
      m.push_back(maps[i]);
      k.push_back(masks[i]);
    }
    if (HasBothClasses(l)) d.image_auroc = eval::Auroc(s, l);
    if (pixel_level && MasksHaveDefect(k)) {
      d.pixel_auroc = eval::PixelAuroc(m, k);
      d.aupro = eval::Aupro(m, k, eval_options.fpr_limit);
    }
    metrics.by_defect[defect] = d;
  }

  // Pictures.
  const fs::path out = eval_options.out_dir / category.name;
  EnsureDirectory(out);
  std::vector<std::string> overlay_links;
  if (eval_options.write_overlays) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (const cv::Mat& map : maps) {
      double a, b;
      cv::minMaxLoc(map, &a, &b);
      lo = std::min(lo, static_cast<float>(a));
      hi = std::max(hi, static_cast<float>(b));
    }
    for (size_t i = 0; i < category.tests.size(); ++i) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      const MvtecTestImage& test = category.tests[i];
      const cv::Mat image = io::ReadImage(test.image);
      const cv::Mat mask = test.mask.empty() ? cv::Mat() : ReadMask(test.mask, image.size());
      const std::string rel =
          fmt::format("overlays/{}/{}.png", test.defect, test.image.stem().string());
      io::WriteImage(out / rel, MakeOverlay(image, maps[i], lo, hi, mask));
      overlay_links.push_back(fmt::format(
          "<a href=\"{0}\"><img src=\"{0}\" height=\"128\" title=\"{1} score {2:.4f}\"></a>", rel,
          HtmlEscape(test.defect + "/" + test.image.filename().string()), scores[i]));
    }
  }
  io::WriteImage(out / "roc.png",
                 DrawRocPlot(image_roc.get(), pixel_roc.get(),
                             fmt::format("{}: image AUROC {}  pixel AUROC {}", category.name,
                                         Fmt(metrics.image_auroc), Fmt(metrics.pixel_auroc))));
  std::string html = fmt::format(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>vigil {0}</title>"
      "<style>body{{font-family:sans-serif}} td,th{{padding:2px 10px;text-align:right}}"
      "</style></head><body><h1>{0}</h1><p>{1}</p><p>{2} train images, {3} test images; fit "
      "{4:.1f} s, {5:.3f} s per test image. Pixel metrics at each image's own size; "
      "AUPRO up to FPR {6}.</p><img src=\"roc.png\"><table><tr><th>defect</th><th>images</th>"
      "<th>image AUROC</th><th>pixel AUROC</th><th>AUPRO</th></tr>",
      HtmlEscape(category.name), HtmlEscape(eval_options.title), metrics.train_images,
      metrics.test_images, metrics.fit_seconds, metrics.score_seconds_per_image,
      eval_options.fpr_limit);
  for (const auto& [defect, d] : metrics.by_defect) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        HtmlEscape(defect), d.images, Fmt(d.image_auroc), Fmt(d.pixel_auroc),
                        Fmt(d.aupro));
  }
  html += fmt::format(
      "<tr><th>all</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></table>"
      "<p>image F1-max {}</p><h2>Test images</h2><p>",
      metrics.test_images, Fmt(metrics.image_auroc), Fmt(metrics.pixel_auroc), Fmt(metrics.aupro),
      Fmt(metrics.f1_max));
  for (const std::string& link : overlay_links) html += link + "\n";
  html += "</p></body></html>\n";
  WriteTextFileAtomically(out / "index.html", html);
  return metrics;
}

json MetricsToJson(const CategoryMetrics& metrics) {
  json by_defect = json::object();
  for (const auto& [defect, d] : metrics.by_defect) {
    by_defect[defect] = {{"images", d.images},
                         {"image_auroc", NumberOrNull(d.image_auroc)},
                         {"pixel_auroc", NumberOrNull(d.pixel_auroc)},
                         {"aupro", NumberOrNull(d.aupro)}};
  }
  return {{"image_auroc", NumberOrNull(metrics.image_auroc)},
          {"pixel_auroc", NumberOrNull(metrics.pixel_auroc)},
          {"aupro", NumberOrNull(metrics.aupro)},
          {"f1_max", NumberOrNull(metrics.f1_max)},
          {"by_defect", by_defect},
          {"train_images", metrics.train_images},
          {"test_images", metrics.test_images},
          {"fit_seconds", metrics.fit_seconds},
          {"score_seconds_per_image", metrics.score_seconds_per_image}};
}

}  // namespace vigil::spade
