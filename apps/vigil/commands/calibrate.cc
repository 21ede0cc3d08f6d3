// vigil calibrate --pairs PAIRS.csv | --images DIR [--shift DX,DY] --out DIR
// Self-calibration of the matcher threshold (robot change-detection paper, Sec. IV): the
// coefficient of variation of matched-keypoint displacements over a threshold sweep, knee by
// Kneedle. Writes DIR/calibration.json (read by `vigil inspect --calibration`) and
// DIR/calibration.png (the curve with its min-max band and the knee, like the paper's Fig. 5).
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "vigil/calibration/self_calibration.h"
#include "vigil/report/calibration_plot.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

#include "cli_common.h"
#include "commands.h"
#ifdef VIGIL_HAVE_ROS  // ROS hook (owner: ros): --images may be a bag
#include "bag_input.h"
#endif

namespace vigil::cli {
namespace fs = std::filesystem;
namespace {

cv::Point2d ParseShift(const std::string& text) {
  std::istringstream in(text);
  double dx = 0, dy = 0;
  char comma = 0;
  in >> dx >> comma >> dy;
  VIGIL_CHECK(
      in && !in.rdbuf()->in_avail() && comma == ',' && std::isfinite(dx) && std::isfinite(dy),
      "option --shift: expected DX,DY in pixels, got '{}'", text);
  VIGIL_CHECK(dx != 0 || dy != 0, "option --shift: the shift must not be 0,0");
  return {dx, dy};
}

}  // namespace

int RunCalibrate(int argc, char** argv) {
  CLI::App app{
      "Self-calibrate the matcher's confidence threshold on image pairs with a linear "
      "shift: for each threshold, the coefficient of variation of the matched "
      "keypoints' displacement lengths divided by the match count, averaged over the "
      "pairs; the calibrated threshold is the knee of that curve (Kneedle). Pairs come "
      "from a CSV (image0,image1[,dx,dy]) or are made from single images by a synthetic "
      "shift. Writes calibration.json and calibration.png to --out.",
      "calibrate"};
  std::string pairs_file, images_dir, shift_text = "32,0", thresholds_text = "0:0.9:0.1";
  std::string out_dir, knee_curve, knee_direction;
  bool detect_shape = false, knee_offline = false, quiet = false;
  ExtractorFlags extractor_flags;
  MatcherFlags matcher_flags;
  SelfCalibrationOptions options;
  auto* pairs_option = app.add_option(
      "--pairs", pairs_file,
      "CSV with one pair per line: image0,image1[,dx,dy] (paths relative to the CSV; dx,dy = "
      "known shift, used only for diagnostics)");
  auto* images_option = app.add_option("--images", images_dir,
                                       "folder of single images, each paired with itself "
                                       "shifted by --shift");
  pairs_option->excludes(images_option);
#ifdef VIGIL_HAVE_ROS  // ROS hook: --images BAG with --image-topic (poses not needed)
  BagInputFlags bag_flags;
  AddBagInputOptions(app, bag_flags);
#endif
  app.add_option("--shift", shift_text, "synthetic shift DX,DY in pixels for --images")
      ->capture_default_str();
  AddExtractorOptions(app, extractor_flags);
  AddMatcherOptions(app, matcher_flags);
  app.add_option("--thresholds", thresholds_text,
                 "threshold sweep: start:stop:step (inclusive) or a comma list, in [0, 1)")
      ->capture_default_str();
  app.add_option("--min-matches", options.min_matches,
                 "matches a pair needs at a threshold for its cv to count")
      ->capture_default_str();
  app.add_option("--knee-sensitivity", options.kneedle.sensitivity, "Kneedle sensitivity S")
      ->capture_default_str();
  app.add_option("--knee-curve", knee_curve,
                 "Kneedle curve: convex|concave (default convex: the curve flattens after the "
                 "drop)");
  app.add_option("--knee-direction", knee_direction,
                 "Kneedle direction: increasing|decreasing (default decreasing)");
  app.add_flag("--knee-offline", knee_offline,
               "take Kneedle's first knee instead of the last one (online mode, the default)");
  app.add_flag("--detect-shape", detect_shape,
               "choose the Kneedle curve and direction from the data (kneed's find_shape)");
  double dense_rate = 1e-3;
  app.add_option("--dense-false-alarm-rate", dense_rate,
                 "also calibrate the dense change stage's threshold on these images at this share "
                 "of clean pixels (stored in calibration.json; inspect --evidence dense uses it)")
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress bar");
  app.add_option("--out", out_dir, "output folder for calibration.json and calibration.png")
      ->required();
  return RunCommand(app, argc, argv, [&] {
    VIGIL_CHECK(!pairs_file.empty() || !images_dir.empty(),
                "give the image pairs with --pairs PAIRS.csv or --images DIR");
    options.thresholds = ParseThresholds(thresholds_text);
    if (!knee_curve.empty()) options.kneedle.curve = ParseKneeCurve(knee_curve);
    if (!knee_direction.empty()) options.kneedle.direction = ParseKneeDirection(knee_direction);
    if (knee_offline) options.kneedle.online = false;
    options.detect_shape = detect_shape;
    options.show_progress = !quiet;

    // The sweep runs the matcher once at threshold 0 and filters; the threshold the user (or
    // the matcher's default) gives is what is used when the curve has no knee.
    MatcherOptions matcher_options = matcher_flags.Resolve();
    matcher_options.Check();
    options.fallback_threshold = matcher_options.threshold();
    matcher_options.set_threshold(0.0f);
    options.Check();

    std::vector<ImagePairSpec> pairs;
    if (!pairs_file.empty()) {
      VIGIL_CHECK(app.count("--shift") == 0,
                  "option --shift applies to --images; put dx,dy in the pairs CSV instead");
      pairs = ReadPairsCsv(pairs_file);
    } else {
#ifdef VIGIL_HAVE_ROS  // ROS hook: a bag is extracted once into <out>/bag_runs/calibration
      images_dir = RunFolderFor(images_dir, bag_flags, out_dir, "calibration");
#endif
      pairs = MakeShiftedPairs(images_dir, ParseShift(shift_text));
    }
    const fs::path out(out_dir);
    EnsureDirectory(out);

    const FeatureExtractorOptions extractor_options = extractor_flags.Resolve();
    auto extractor = FeatureExtractor::Create(extractor_options);
    auto matcher = Matcher::Create(matcher_options);
    CalibrationResult result =
        CalibrateThresholdFromImages(pairs, *extractor, *matcher, options, &InterruptToken());
    InterruptToken().ThrowIfCancelled();
    VIGIL_CHECK_OPTION(dense_rate > 0 && dense_rate < 1, "--dense-false-alarm-rate",
                       fmt::format("must be in (0, 1), got {}", dense_rate));
    std::vector<fs::path> images;
    for (const ImagePairSpec& p : pairs) {
      for (const fs::path& image : {p.image0, p.image1}) {
        if (!image.empty() && std::find(images.begin(), images.end(), image) == images.end()) {
          images.push_back(image);
        }
      }
    }
    result.dense = CalibrateDenseThreshold(images, dense::DenseChangeOptions{}, dense_rate);
    WriteCalibrationPlot(out / "calibration.png", result);
    // The JSON last: its presence means the calibration finished.
    WriteCalibrationJson(out / "calibration.json", result);

    if (result.from_knee) {
      std::printf("calibrated threshold: %.3g (knee of the cv/m curve, %zu pair(s), %s + %s)\n",
                  result.threshold, result.pairs.size(), result.extractor.c_str(),
                  result.matcher.c_str());
      if (!result.note.empty()) std::printf("note: %s\n", result.note.c_str());
    } else {
      std::printf("calibrated threshold: %.3g (FALLBACK: %s)\n", result.threshold,
                  result.note.c_str());
    }
    std::printf("dense threshold: %.3g (false-alarm rate %g, %d images)\n", result.dense->threshold,
                result.dense->false_alarm_rate, result.dense->num_images);
    std::printf("wrote %s and %s\n", (out / "calibration.json").string().c_str(),
                (out / "calibration.png").string().c_str());
  });
}

}  // namespace vigil::cli
