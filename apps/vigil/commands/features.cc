// vigil features IMAGE... --extractor E --out DIR: keypoints + descriptors per image.
#include <filesystem>

#include "cli_common.h"
#include "commands.h"
#include "vigil/features/features_io.h"
#include "vigil/io/image_io.h"
#include "vigil/report/draw.h"
#include "vigil/util/file_util.h"

namespace vigil::cli {
namespace fs = std::filesystem;

int RunFeatures(int argc, char** argv) {
  CLI::App app{"Extract keypoints and descriptors. Writes per image <stem>.json, "
               "<stem>.desc.npy (N x D float32) and <stem>.png (keypoint overlay).",
               "features"};
  std::vector<std::string> images;
  std::string out_dir;
  std::string resize;
  ExtractorFlags extractor_flags;
  app.add_option("images", images, "input images")->required()->check(CLI::ExistingFile);
  AddExtractorOptions(app, extractor_flags);
  app.add_option("--resize", resize, "resize to WxH before extraction (INTER_LINEAR, as the official SuperPoint/SuperGlue demo)");
  app.add_option("--out", out_dir, "output folder")->required();
  return RunCommand(app, argc, argv, [&] {
    const auto [width, height] = ParseSize(resize, "--resize");
    auto extractor = FeatureExtractor::Create(extractor_flags.Resolve());
    EnsureDirectory(out_dir);
    ProgressBar progress("features", images.size(), images.size() > 1);
    for (const std::string& path : images) {
      InterruptToken().ThrowIfCancelled();
      const cv::Mat image = io::ResizeForInference(io::ReadImage(path), width, height);
      const Features features = extractor->Extract(image);
      const std::string stem = fs::path(path).stem().string();
      io::WriteFeatures(out_dir, stem, path, features);
      io::WriteImage(fs::path(out_dir) / (stem + ".png"), report::DrawKeypoints(image, features));
      progress.Advance();
    }
    progress.Finish();
  });
}

}  // namespace vigil::cli
