// vigil match IMG0 IMG1 | --features0 F --features1 F | --pairs FILE | --matches FILE  --out DIR
#include <chrono>
#include <filesystem>
#include <fstream>

#include "cli_common.h"
#include "commands.h"
#include "vigil/features/features_io.h"
#include "vigil/io/image_io.h"
#include "vigil/matching/matches_io.h"
#include "vigil/matching/verification.h"
#include "vigil/report/draw.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::cli {
namespace fs = std::filesystem;
namespace {

struct PairJob {
  std::string image0, image1;        // image paths (for drawing, and extraction when needed)
  std::string features0, features1;  // optional `vigil features` JSON files
  std::string output_stem;           // "matches" or "<stem0>_<stem1>"
};

// hloc-style pair list: one pair per line, separated by spaces or a comma; '#' comments.
std::vector<PairJob> ReadPairs(const std::string& path) {
  std::ifstream in(path);
  VIGIL_CHECK(in.good(), "{}: cannot open pair list", path);
  std::vector<PairJob> pairs;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream fields(line);
    std::string a, b;
    if (!(fields >> a) || a[0] == '#') continue;
    VIGIL_CHECK(static_cast<bool>(fields >> b), "{}:{}: expected two image paths", path,
                line_number);
    if (a == "image0" || a == "query") continue;  // header row
    const fs::path base = fs::path(path).parent_path();
    auto resolve = [&](const std::string& p) {
      return fs::path(p).is_absolute() || fs::exists(p) ? p : (base / p).string();
    };
    pairs.push_back({resolve(a), resolve(b), "", "",
                     fs::path(a).stem().string() + "_" + fs::path(b).stem().string()});
  }
  VIGIL_CHECK(!pairs.empty(), "{}: no pairs in the list", path);
  return pairs;
}

// --matches: a matches.json read back and verified again (no extraction, no matching), written
// as matches.json (+ matches.png when both of its images can be read). The flags that would
// compute matches are refused with it rather than silently unused.
void VerifyMatchFile(const CLI::App& app, const std::string& path, const VerificationOptions& verification,
                     const std::string& out_dir) {
  for (const char* name : {"--extractor", "--weights", "--max-keypoints", "--keypoint-threshold",
                           "--nms-radius", "--matcher", "--matcher-weights", "--threshold",
                           "--resize", "--features0", "--features1", "--pairs", "images"}) {
    VIGIL_CHECK(app.get_option(name)->count() == 0,
                "option {}: not used with --matches (the matches are read, not computed)", name);
  }
  VIGIL_CHECK_OPTION(verification.method != "none", "--verify",
                     "give homography or fundamental: --matches verifies a match file again");
  io::MatchFile file = io::ReadMatches(path);
  const auto start = std::chrono::steady_clock::now();
  const VerificationReport report = VerifyMatches(file.features0, file.features1, verification, &file.matches);
  file.matches.timings_ms["verify"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EnsureDirectory(out_dir);
  WriteTextFileAtomically(fs::path(out_dir) / "matches.json",
                          io::MatchesToJson(file.image0, file.image1, file.features0,
                                            file.features1, file.matches)
                              .dump(1));
  auto is_image = [](const std::string& p) {
    return io::HasImageExtension(p) && fs::is_regular_file(p);
  };
  if (is_image(file.image0) && is_image(file.image1)) {
    io::WriteImage(fs::path(out_dir) / "matches.png",
                   report::DrawMatches(io::ReadImage(file.image0), io::ReadImage(file.image1),
                                       file.features0, file.features1, file.matches));
  }
  std::printf("%d of %d matches are %s inliers\n", report.num_inliers, file.matches.num_matches(),
              verification.method.c_str());
}

}  // namespace

int RunMatch(int argc, char** argv) {
  CLI::App app{"Match keypoints between two images. Writes matches.json and matches.png "
               "(side by side, lines coloured by confidence); with --pairs, "
               "<stem0>_<stem1>.json/.png per pair.",
               "match"};
  std::vector<std::string> images;
  PairJob single{"", "", "", "", "matches"};
  std::string pairs_file, out_dir, resize, verify = "none";
  ExtractorFlags extractor_flags;
  MatcherFlags matcher_flags;
  VerificationOptions verification;
  app.add_option("images", images, "IMG0 IMG1")->expected(0, 2);
  app.add_option("--features0", single.features0, "features JSON of image 0 (from vigil features)");
  app.add_option("--features1", single.features1, "features JSON of image 1 (from vigil features)");
  app.add_option("--pairs", pairs_file, "file with one image pair per line (models loaded once)");
  std::string matches_file;
  app.add_option("--matches", matches_file,
                 "a matches.json (from vigil match, or another tool in its format) to verify again "
                 "with --verify, without extracting or matching");
  AddExtractorOptions(app, extractor_flags);
  AddMatcherOptions(app, matcher_flags);
  app.add_option("--verify", verify, "geometric verification: none|homography|fundamental")
      ->capture_default_str();
  app.add_option("--resize", resize, "resize images to WxH before extraction (INTER_LINEAR, as the official SuperPoint/SuperGlue demo)");
  app.add_option("--out", out_dir, "output folder")->required();
  return RunCommand(app, argc, argv, [&] {
    verification.method = verify;
    verification.Check();
    if (!matches_file.empty()) return VerifyMatchFile(app, matches_file, verification, out_dir);
    std::vector<PairJob> jobs;
    if (!pairs_file.empty()) {
      jobs = ReadPairs(pairs_file);
    } else {
      VIGIL_CHECK(images.size() == 2 || (!single.features0.empty() && !single.features1.empty()),
                  "give IMG0 IMG1, or --features0 and --features1, or --pairs FILE, or --matches FILE");
      if (images.size() == 2) {
        single.image0 = images[0];
        single.image1 = images[1];
      }
      jobs.push_back(single);
    }
    const auto [width, height] = ParseSize(resize, "--resize");
    std::unique_ptr<FeatureExtractor> extractor;
    auto matcher = Matcher::Create(matcher_flags.Resolve());
    EnsureDirectory(out_dir);
    ProgressBar progress("match", jobs.size(), jobs.size() > 1);
    for (const PairJob& job : jobs) {
      InterruptToken().ThrowIfCancelled();
      cv::Mat image0, image1;
      if (!job.image0.empty()) image0 = io::ResizeForInference(io::ReadImage(job.image0), width, height);
      if (!job.image1.empty()) image1 = io::ResizeForInference(io::ReadImage(job.image1), width, height);
      auto features_of = [&](const std::string& json, const cv::Mat& image,
                             std::map<std::string, double>* timings, const char* key) {
        if (!json.empty()) return io::ReadFeatures(json);
        if (!extractor) extractor = FeatureExtractor::Create(extractor_flags.Resolve());
        const auto start = std::chrono::steady_clock::now();
        Features f = extractor->Extract(image);
        (*timings)[key] = std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start).count();
        return f;
      };
      std::map<std::string, double> timings;
      const Features f0 = features_of(job.features0, image0, &timings, "extract0");
      const Features f1 = features_of(job.features1, image1, &timings, "extract1");
      Matches matches = matcher->Match(f0, f1);
      if (verification.method != "none") VerifyMatches(f0, f1, verification, &matches);
      matches.timings_ms.insert(timings.begin(), timings.end());
      const std::string name0 = job.image0.empty() ? job.features0 : job.image0;
      const std::string name1 = job.image1.empty() ? job.features1 : job.image1;
      WriteTextFileAtomically(fs::path(out_dir) / (job.output_stem + ".json"),
                              io::MatchesToJson(name0, name1, f0, f1, matches).dump(1));
      if (!image0.empty() && !image1.empty()) {
        io::WriteImage(fs::path(out_dir) / (job.output_stem + ".png"),
                       report::DrawMatches(image0, image1, f0, f1, matches));
      }
      if (jobs.size() == 1) {
        std::printf("%d matches (%d / %d keypoints)\n", matches.num_matches(), f0.size(), f1.size());
      }
      progress.Advance();
    }
    progress.Finish();
  });
}

}  // namespace vigil::cli
