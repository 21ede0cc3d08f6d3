// vigil spade fit|score|eval: sub-image anomaly detection with a saved memory bank
// (SPADE, or PatchCore with --method patchcore). See src/vigil/spade/detector.h.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vigil/io/image_io.h"
#include "vigil/spade/evaluate.h"
#include "vigil/spade/pipeline.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/model_path.h"
#include "vigil/util/options_fields.h"

#include "cli_common.h"
#include "commands.h"

namespace vigil::cli {
namespace fs = std::filesystem;
using spade::AnomalyDetectorOptions;
using spade::BackboneOptions;

namespace {

// Relative aspect-ratio spread within which train images count as one shape for
// --input-size auto (AspectPreservingInput's default tolerance).
constexpr double kShapeTolerance = 0.1;

// Backbone flags: a preset plus explicit overrides.
struct BackboneFlags {
  std::string model;
  std::string preset = "resnet";
  std::vector<std::string> taps;
  std::string pool_tap;
  std::string input_size = "auto";  // "auto", "N" (square) or "WxH"
  std::vector<float> mean, stddev;
  std::optional<float> scale;
  bool bgr = false;
  int threads = 2;

  BackboneOptions Resolve() const {
    BackboneOptions options = spade::BackbonePreset(preset);
    if (!taps.empty()) options.pyramid_taps = taps;
    if (!pool_tap.empty()) options.pool_tap = pool_tap;
    if (input_size != "auto") {
      const bool square = input_size.find('x') == std::string::npos;
      try {
        std::tie(options.input_width, options.input_height) =
            ParseSize(square ? input_size + "x" + input_size : input_size, "--input-size");
      } catch (const Error&) {
        throw Error(fmt::format(
            "option --input-size: expected auto, N or WxH with positive integers, got '{}'",
            input_size));
      }
    }
    if (!mean.empty()) {
      VIGIL_CHECK(mean.size() == 3, "option --mean: needs 3 values, got {}", mean.size());
      std::copy(mean.begin(), mean.end(), options.mean.begin());
    }
    if (!stddev.empty()) {
      VIGIL_CHECK(stddev.size() == 3, "option --std: needs 3 values, got {}", stddev.size());
      std::copy(stddev.begin(), stddev.end(), options.stddev.begin());
    }
    if (scale) options.scale = *scale;
    if (bgr) options.rgb = false;
    options.num_threads = threads;
    options.model = ModelPath();
    return options;
  }

  // The backbone for the train images: with --input-size auto, an input of their shape when it
  // is far from the preset's (spade::AspectPreservingInput) and every train image shares it;
  // a folder of mixed shapes (e.g. landscape and portrait) gets the preset size, to which every
  // image is resized (backbone.h). A backbone that refuses the shaped size (a fixed-shape graph)
  // falls back to the preset size with a warning.
  std::unique_ptr<spade::Backbone> Create(const std::vector<fs::path>& train_images) const {
    BackboneOptions options = Resolve();
    const cv::Size preset(options.input_width, options.input_height);
    if (input_size != "auto" || train_images.empty()) {
      return std::make_unique<spade::Backbone>(options);
    }
    // The first image sets the shape (as before); the others must share its aspect ratio to
    // within AspectPreservingInput's tolerance (KolektorSDD: 500x1235..1284, all within 4 %).
    const cv::Size image = io::ReadImage(train_images.front()).size();
    const cv::Size input = spade::AspectPreservingInput(preset, image);
    const double ratio = static_cast<double>(image.width) / image.height;
    for (const fs::path& path : train_images) {
      if (input == preset) break;
      const cv::Size other = io::ReadImage(path).size();
      const double other_ratio = static_cast<double>(other.width) / other.height;
      if (std::abs(other_ratio / ratio - 1) > kShapeTolerance) {
        std::fprintf(stderr,
                     "input %dx%d (--input-size auto): the train images differ in shape (%s is "
                     "%dx%d, %s %dx%d); each is resized to the input\n",
                     preset.width, preset.height, path.filename().string().c_str(), other.width,
                     other.height, train_images.front().filename().string().c_str(), image.width,
                     image.height);
        return std::make_unique<spade::Backbone>(options);
      }
    }
    if (input == preset) return std::make_unique<spade::Backbone>(options);
    options.input_width = input.width;
    options.input_height = input.height;
    try {
      auto backbone = std::make_unique<spade::Backbone>(options);
      std::fprintf(stderr, "input %dx%d for %dx%d images (--input-size auto)\n", input.width,
                   input.height, image.width, image.height);
      return backbone;
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: %s; using %dx%d (the image shape is squeezed)\n", e.what(),
                   preset.width, preset.height);
      options.input_width = preset.width;
      options.input_height = preset.height;
      return std::make_unique<spade::Backbone>(options);
    }
  }

  // --backbone, or for the mobilenet-v2 preset the shared model found on the search path.
  std::string ModelPath() const {
    if (!model.empty() || preset != "mobilenet-v2") {
      VIGIL_CHECK(!model.empty(), "option --backbone: give the ONNX model (preset '{}')", preset);
      VIGIL_CHECK(fs::is_regular_file(model), "{}: backbone model not found", model);
      return model;
    }
    ModelSpec spec;
    spec.relative_paths = {"mobilenet_v2/mobilenet_v2_1.0_224_spade.onnx"};
    spec.description = "MobileNetV2 ONNX backbone";
    spec.official_source = "../shared/models/mobilenet_v2 (see its README)";
    return FindModelFile("", spec).string();
  }
};

void AddBackboneOptions(CLI::App& app, BackboneFlags& flags) {
  app.add_option("--backbone", flags.model, "ONNX backbone model");
  app.add_option("--backbone-preset", flags.preset,
                 fmt::format("taps + preprocessing preset: {}",
                             fmt::join(spade::BackbonePresetNames(), "|")))
      ->capture_default_str();
  app.add_option("--taps", flags.taps, "pyramid output names (overrides the preset)")
      ->delimiter(',');
  app.add_option("--pool-tap", flags.pool_tap, "retrieval output name (overrides the preset)");
  app.add_option("--input-size", flags.input_size,
                 "model input size in pixels, to which every image is resized: auto (the "
                 "preset's, or the train images' shape when they share one far from square, "
                 "e.g. 224x576 for 500x1250 images), N (square) or WxH")
      ->capture_default_str();
  app.add_option("--mean", flags.mean, "per-channel mean, 3 values (input order)")->delimiter(',');
  app.add_option("--std", flags.stddev, "per-channel std, 3 values")->delimiter(',');
  app.add_option("--scale", flags.scale, "pixel scale before mean/std (1/255 for ImageNet)");
  app.add_flag("--bgr", flags.bgr, "feed B, G, R instead of R, G, B");
  app.add_option("--threads", flags.threads, "CPU threads (OpenCV DNN and OpenBLAS)")
      ->capture_default_str();
}

// The detector's flags: --method (fitting only: scoring takes the bank's), each method's
// declared shorthands (spade::AnomalyDetectorPluginFlags: --top-k, --seed, ...), then
// `--set PATH=VALUE` for any field of AnomalyDetectorOptions (its Fields(): spade.*,
// patchcore.*, knn.*), as `vigil inspect --set` does for its options.
struct DetectorFlags {
  AnomalyDetectorOptions options;
  PluginFlagValues shorthands;
  std::vector<std::string> sets;
  bool scoring = false;  // a saved bank: fields fixed at fit time cannot change
  // threads, the shorthands of `method` (a shorthand of the other method is an error), then
  // every --set in order (scoring calls CheckSets first); the result is checked by
  // AnomalyDetector::Create.
  const AnomalyDetectorOptions& Resolve(int threads, const std::string& method) {
    spade::CheckAnomalyMethod(method, "--method");  // before a shorthand is judged by it
    options.method = method;
    options.knn.num_threads = threads;
    shorthands.ApplyTo(&options, method, "method");
    for (const std::string& assignment : sets) SetOptionField(&options, assignment);
    return options;
  }
  // Scoring: a --set of a field fixed when the bank was fitted is refused (before the bank is
  // read, so the message is about the option).
  void CheckSets() const {
    for (const std::string& assignment : sets) {
      const std::string path = assignment.substr(0, assignment.find('='));
      VIGIL_CHECK_OPTION(!scoring || !spade::IsFitTimeField(path), "--set",
                         fmt::format("'{}': {} is fixed when the bank is fitted; fit a new bank "
                                     "to change it",
                                     assignment, path));
    }
  }
};

void AddDetectorOptions(CLI::App& app, DetectorFlags& flags, bool fit_options) {
  flags.scoring = !fit_options;
  if (fit_options) {
    app.add_option("--method", flags.options.method,
                   fmt::format("{}", fmt::join(spade::AnomalyDetectorNames(), "|")))
        ->capture_default_str();
  }
  AddPluginFlags(app, spade::AnomalyDetectorPluginFlags(fit_options),
                 OptionsToJson(AnomalyDetectorOptions()), "", flags.shorthands);
  app.add_option("--set", flags.sets,
                 "PATH=VALUE: any detector option by its path, e.g. patchcore.seed=3 or knn.query_block=128 "
                 "(repeatable; after the flags above)");
}

std::vector<fs::path> ExpandInputs(const std::vector<std::string>& inputs) {
  std::vector<fs::path> images;
  for (const std::string& input : inputs) {
    if (fs::is_directory(input)) {
      const auto listed = io::ListImages(input);
      VIGIL_CHECK(!listed.empty(), "{}: no images in folder", input);
      images.insert(images.end(), listed.begin(), listed.end());
    } else {
      VIGIL_CHECK(fs::is_regular_file(input), "{}: no such image or folder", input);
      images.emplace_back(input);
    }
  }
  return images;
}

std::string Cell(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "-"; }

}  // namespace

int RunSpade(int argc, char** argv) {
  CLI::App app{
      "Sub-image anomaly detection with a saved memory bank: SPADE (Cohen & Hoshen "
      "2020) or PatchCore (Roth et al. 2022) on an ONNX backbone.",
      "spade"};
  app.require_subcommand(1);

  BackboneFlags fit_backbone, eval_backbone;
  DetectorFlags fit_flags, score_flags, eval_flags;
  std::string fit_data, fit_train, fit_out;
  CLI::App* fit = app.add_subcommand("fit", "build a memory bank from images of good parts");
  fit->add_option("--data", fit_data, "MVTec-style category folder (uses train/good)");
  fit->add_option("--train", fit_train, "folder of good images");
  fit->add_option("--out", fit_out, "memory bank file to write")->required();
  AddBackboneOptions(*fit, fit_backbone);
  AddDetectorOptions(*fit, fit_flags, true);

  std::string bank_path, score_model, score_out;
  std::vector<std::string> score_inputs;
  int score_threads = 2;
  CLI::App* score = app.add_subcommand("score", "score images or folders against a bank");
  score->add_option("inputs", score_inputs, "images or folders")->required();
  score->add_option("--bank", bank_path, "memory bank written by `vigil spade fit`")->required();
  score->add_option("--backbone", score_model,
                    "ONNX backbone (default: the path recorded in the bank)");
  score->add_option("--out", score_out, "folder for scores.json and heat-map overlays");
  score->add_option("--threads", score_threads, "CPU threads")->capture_default_str();
  AddDetectorOptions(*score, score_flags, false);

  std::string eval_data, eval_out;
  bool no_overlays = false;
  double fpr_limit = 0.3;
  CLI::App* eval = app.add_subcommand(
      "eval", "fit + score + metrics on MVTec-style folders (one category or a folder of them)");
  eval->add_option("--data", eval_data, "DIR/CATEGORY, or DIR for every category in it")
      ->required();
  eval->add_option("--out", eval_out, "output folder (metrics.json, per-category pages)")
      ->required();
  eval->add_flag("--no-overlays", no_overlays, "skip the per-image overlay PNGs");
  eval->add_option("--fpr-limit", fpr_limit, "AUPRO integration limit")->capture_default_str();
  AddBackboneOptions(*eval, eval_backbone);
  AddDetectorOptions(*eval, eval_flags, true);

  return RunCommand(app, argc, argv, [&] {
    CancelToken& cancel = InterruptToken();
    if (fit->parsed()) {
      VIGIL_CHECK(fit_data.empty() != fit_train.empty(), "give exactly one of --data or --train");
      const fs::path train_dir =
          fit_data.empty() ? fs::path(fit_train) : fs::path(fit_data) / "train" / "good";
      const auto train = spade::ListTrainImages(train_dir);
      const AnomalyDetectorOptions& fit_options =
          fit_flags.Resolve(fit_backbone.threads, fit_flags.options.method);
      const auto backbone = fit_backbone.Create(train);
      const spade::MemoryBank bank =
          spade::FitMemoryBank(*backbone, fit_options, train, true, &cancel);
      cancel.ThrowIfCancelled();
      spade::SaveMemoryBank(fit_out, bank);
      std::printf("%s: %s bank of %zu images written (%.1f MiB)\n", fit_out.c_str(),
                  bank.method.c_str(), train.size(),
                  static_cast<double>(fs::file_size(fit_out)) / (1 << 20));
      return;
    }
    if (score->parsed()) {
      score_flags.CheckSets();
      const spade::MemoryBank bank = spade::LoadMemoryBank(bank_path);
      BackboneOptions options = bank.preprocessing;
      options.model = score_model.empty() ? bank.backbone_path : score_model;
      VIGIL_CHECK(fs::is_regular_file(options.model),
                  "{}: backbone recorded in the bank not found; pass --backbone", options.model);
      options.num_threads = score_threads;
      spade::CheckBankMatchesModel(bank, spade::IdentifyModelFile(options.model), bank_path);
      spade::Backbone backbone(options);
      spade::CheckBankMatchesBackbone(bank, backbone, bank_path);
      const AnomalyDetectorOptions& score_options = score_flags.Resolve(score_threads, bank.method);
      const auto detector = spade::AnomalyDetector::Create(score_options);
      const auto images = ExpandInputs(score_inputs);
      nlohmann::json scores = nlohmann::json::object();
      std::vector<cv::Mat> maps;
      ProgressBar progress("score", images.size(), images.size() > 1);
      for (const fs::path& image : images) {
        cancel.ThrowIfCancelled();
        const auto result = spade::ScoreImageFile(backbone, *detector, bank, image);
        std::printf("%s\t%.6f\n", image.string().c_str(), result.image_score);
        scores[image.string()] = result.image_score;
        if (!score_out.empty()) maps.push_back(result.score_map);
        progress.Advance();
      }
      progress.Finish();
      if (!score_out.empty()) {
        // One colour scale for the whole run, so overlays compare across images.
        float hi = 0;
        for (const cv::Mat& m : maps) {
          double a, b;
          cv::minMaxLoc(m, &a, &b);
          hi = std::max(hi, static_cast<float>(b));
        }
        for (size_t i = 0; i < images.size(); ++i) {
          io::WriteImage(fs::path(score_out) / (images[i].stem().string() + "_overlay.png"),
                         spade::MakeOverlay(io::ReadImage(images[i]), maps[i], 0.f, hi, cv::Mat()));
        }
        WriteTextFileAtomically(fs::path(score_out) / "scores.json", scores.dump(2) + "\n");
      }
      return;
    }
    // eval
    const AnomalyDetectorOptions& eval_options =
        eval_flags.Resolve(eval_backbone.threads, eval_flags.options.method);
    const BackboneOptions backbone_options = eval_backbone.Resolve();
    spade::EvalOptions options;
    options.out_dir = eval_out;
    options.write_overlays = !no_overlays;
    options.fpr_limit = fpr_limit;
    options.title =
        fmt::format("{} on {} ({} preset)", eval_options.method,
                    fs::path(backbone_options.model).filename().string(), eval_backbone.preset);
    const std::vector<fs::path> categories = spade::FindMvtecCategories(eval_data);
    nlohmann::json all = nlohmann::json::object();
    std::printf("%-12s %-14s %6s %11s %11s %8s %7s\n", "category", "defect", "images",
                "image_AUROC", "pixel_AUROC", "AUPRO", "F1max");
    for (const fs::path& dir : categories) {
      const spade::MvtecCategory category = spade::ReadMvtecCategory(dir);
      const auto backbone = eval_backbone.Create(category.train);
      const spade::CategoryMetrics m =
          spade::EvaluateCategory(category, *backbone, eval_options, options, &cancel);
      for (const auto& [defect, d] : m.by_defect) {
        std::printf("%-12s %-14s %6d %11s %11s %8s %7s\n", m.name.c_str(), defect.c_str(), d.images,
                    Cell(d.image_auroc).c_str(), Cell(d.pixel_auroc).c_str(), Cell(d.aupro).c_str(),
                    "");
      }
      std::printf("%-12s %-14s %6d %11s %11s %8s %7s\n", m.name.c_str(), "(all)", m.test_images,
                  Cell(m.image_auroc).c_str(), Cell(m.pixel_auroc).c_str(), Cell(m.aupro).c_str(),
                  Cell(m.f1_max).c_str());
      std::fflush(stdout);
      all[m.name] = spade::MetricsToJson(m);
      // Rewritten after every category so an interrupted run keeps the finished ones.
      WriteTextFileAtomically(fs::path(eval_out) / "metrics.json", all.dump(2) + "\n");
    }
  });
}

}  // namespace vigil::cli
