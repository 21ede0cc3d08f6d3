// Behaviour tests of the `vigil` binary itself (VIGIL_CLI_PATH): exit codes, the one-line error
// messages on bad input, --help, and small end-to-end runs on the shared fixtures and data.
// The binary is started with posix_spawn (no shell, so arguments need no quoting), its stdout
// and stderr captured to files in the test's temporary folder.
//
// The contract checked (cli_common.h): a bad input gives exactly one stderr line
// "vigil <command>: error: <what, naming the file/option>" and exit code 1 (2 for a usage
// error found while parsing the command line); --help exits 0; SIGINT exits 130 and leaves only
// complete outputs. Only sift/orb run here, on small inputs, to keep the binary fast.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "vigil/util/testing.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using vigil::testing::DataDir;
using vigil::testing::FixturesDir;
using vigil::testing::ModelsDir;

constexpr double kRunTimeoutS = 180;  // per command; a hang fails instead of blocking CTest

struct CliResult {
  int exit_code = -1;  // exit status, 128 + signal when killed by one, -1 on timeout
  std::string out, err;
  int err_lines() const { return static_cast<int>(std::count(err.begin(), err.end(), '\n')); }
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path Abs(const fs::path& p) { return fs::absolute(p).lexically_normal(); }

std::string Join(const std::vector<std::string>& args) {
  std::string s = "vigil";
  for (const std::string& a : args) s += " " + a;
  return s;
}

// Starts the binary with stdin from /dev/null and stdout/stderr into the given files.
pid_t Spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  std::vector<std::string> storage = {VIGIL_CLI_PATH};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << VIGIL_CLI_PATH << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

// Waits for the child; kills it after timeout_s. Returns the exit code as a shell reports it.
int Wait(pid_t pid, double timeout_s) {
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "vigil did not finish within " << timeout_s << " s; killed";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Every file under `dir` whose name marks an unfinished atomic write (file_util.h).
std::vector<std::string> TemporaryFiles(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

std::vector<fs::path> FilesWithExtension(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ext &&
        entry.path().filename().string().find(".tmp-") == std::string::npos) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Width and height from a PNG's IHDR chunk (0, 0 when the file is not a PNG).
std::pair<int, int> PngSize(const fs::path& path) {
  const std::string bytes = ReadFile(path);
  if (bytes.size() < 24 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {0, 0};
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) v = v << 8 | static_cast<uint8_t>(bytes[at + k]);
    return static_cast<int>(v);
  };
  return {be32(16), be32(20)};
}

struct NpyInfo {
  std::string descr;
  long rows = -1, cols = -1;
  size_t data_bytes = 0;  // file size minus the header
};

// Parses a version 1/2 .npy header ({'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }).
NpyInfo ReadNpyHeader(const fs::path& path) {
  NpyInfo info;
  const std::string bytes = ReadFile(path);
  if (bytes.size() < 12 || bytes.compare(0, 6, "\x93NUMPY") != 0) return info;
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    start = 10;
  } else {
    for (int k = 3; k >= 0; --k) header_len = header_len << 8 | static_cast<uint8_t>(bytes[8 + k]);
    start = 12;
  }
  if (bytes.size() < start + header_len) return info;
  const std::string header = bytes.substr(start, header_len);
  std::smatch m;
  if (std::regex_search(header, m, std::regex(R"('descr':\s*'([^']*)')"))) info.descr = m[1];
  if (std::regex_search(header, m, std::regex(R"('shape':\s*\((\d+),\s*(\d+)\))"))) {
    info.rows = std::stol(m[1]);
    info.cols = std::stol(m[2]);
  }
  info.data_bytes = bytes.size() - start - header_len;
  return info;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vigil::testing::MakeTempDir("cli");
    images_ = Abs(FixturesDir() / "images");
    freiburg_ = Abs(DataDir() / "changes-freiburg");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);  // kept for inspection when a test fails
  }

  CliResult Run(const std::vector<std::string>& args) {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    CliResult r;
    r.exit_code = Wait(Spawn(args, out, err), kRunTimeoutS);
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  // The error contract: exactly one stderr line "vigil <command>: error: ...", containing every
  // needle (the file, option or value at fault), and the given exit code.
  void ExpectError(const std::vector<std::string>& args, int exit_code, const std::string& command,
                   const std::vector<std::string>& needles) {
    SCOPED_TRACE(Join(args));
    const CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, exit_code) << "stderr: " << r.err;
    EXPECT_EQ(r.err_lines(), 1) << "stderr: " << r.err;
    EXPECT_EQ(r.err.rfind("vigil " + command + ": error: ", 0), 0u) << "stderr: " << r.err;
    for (const std::string& needle : needles) {
      EXPECT_NE(r.err.find(needle), std::string::npos)
          << "stderr does not mention '" << needle << "': " << r.err;
    }
  }

  // A PNG cut off after its first 3000 bytes (signature and IHDR intact, image data missing).
  fs::path TruncatedPng(const std::string& name) {
    const std::string bytes = ReadFile(images_ / "freiburg0.png");
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), 3000);
    return path;
  }

  fs::path WriteText(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  // 2 references + 2 queries of changes-freiburg with the matching poses.csv rows.
  void MakeFreiburgSubset(const fs::path& root) {
    auto copy_run = [&](const std::string& run, const std::vector<std::string>& images) {
      fs::create_directories(root / run);
      std::ifstream poses(freiburg_ / run / "poses.csv");
      std::ofstream subset(root / run / "poses.csv");
      std::string line;
      std::getline(poses, line);
      subset << line << "\n";
      while (std::getline(poses, line)) {
        for (const std::string& image : images) {
          if (line.rfind(image + ",", 0) == 0) subset << line << "\n";
        }
      }
      for (const std::string& image : images) {
        fs::copy_file(freiburg_ / run / image, root / run / image);
      }
    };
    copy_run("reference", {kReference0, kReference1});
    copy_run("query", {kQuery0, kQuery1});
  }

  // `vigil inspect` on the reference/ and query/ runs under `data`, writing to `out`, plus `extra`.
  static std::vector<std::string> InspectArgs(const fs::path& data, const fs::path& out,
                                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"inspect",        "--reference", (data / "reference").string(),
                                     "--query",        (data / "query").string(),
                                     "--out",          out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static constexpr const char* kReference0 = "s0_1341847980.722988.png";
  static constexpr const char* kReference1 = "s0_1341847982.730674.png";
  static constexpr const char* kQuery0 = "s0_1341847981.726650_v0.png";  // pairs with kReference0
  static constexpr const char* kQuery1 = "s0_1341847983.738736_v1.png";  // pairs with kReference1

  fs::path dir_, images_, freiburg_;
};

using CliHelp = Cli;
using CliFeatures = Cli;
using CliMatch = Cli;
using CliCalibrate = Cli;
using CliInspect = Cli;
using CliEvalChanges = Cli;
using CliSpade = Cli;

// ---------------------------------------------------------------------------------------------
// --help and the command table

TEST_F(CliHelp, TopLevelHelpListsEveryCommand) {
  const CliResult r = Run({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* command :
       {"inspect", "calibrate", "eval-changes", "features", "match", "spade"}) {
    EXPECT_NE(r.out.find(command), std::string::npos) << command << " missing from:\n" << r.out;
  }
}

TEST_F(CliHelp, NoArgumentsIsAUsageError) {
  const CliResult r = Run({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Usage: vigil <command>"), std::string::npos) << r.err;
}

TEST_F(CliHelp, UnknownCommandIsOneLine) {
  const CliResult r = Run({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_NE(r.err.find("'frobnicate'"), std::string::npos) << r.err;
}

TEST_F(CliHelp, EveryCommandHelpExitsZeroAndNamesItsOptions) {
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"features", "--help"},
       {"--extractor", "--weights", "--max-keypoints", "--resize", "--out"}},
      {{"match", "--help"},
       {"--features0", "--features1", "--pairs", "--matcher", "--threshold", "--verify", "--out"}},
      {{"calibrate", "--help"}, {"--pairs", "--images", "--shift", "--thresholds", "--out"}},
      {{"inspect", "--help"},
       {"--reference", "--query", "--calibration", "--segmenter", "--no-resume", "--out"}},
      {{"eval-changes", "--help"}, {"--dataset", "--predictions", "--out"}},
      {{"spade", "--help"}, {"fit", "score", "eval"}},
      {{"spade", "fit", "--help"}, {"--train", "--backbone", "--method", "--out"}},
      {{"spade", "score", "--help"}, {"--bank", "--backbone", "--out"}},
      {{"spade", "eval", "--help"}, {"--data", "--backbone", "--out"}},
  };
  for (const auto& [args, options] : cases) {
    SCOPED_TRACE(Join(args));
    const CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    for (const std::string& option : options) {
      EXPECT_NE(r.out.find(option), std::string::npos) << option << " missing from:\n" << r.out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// vigil features

TEST_F(CliFeatures, MissingImageIsAUsageError) {
  const std::string missing = (dir_ / "nope.png").string();
  ExpectError({"features", missing, "--extractor", "sift", "--out", (dir_ / "out").string()}, 2,
              "features", {missing});
}

TEST_F(CliFeatures, TruncatedPngNamesTheFile) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  const fs::path png = TruncatedPng("cut.png");
  ExpectError({"features", png.string(), "--extractor", "sift", "--out", (dir_ / "out").string()},
              1, "features", {png.string(), "cannot read image"});
  EXPECT_TRUE(FilesWithExtension(dir_ / "out", ".json").empty());
}

TEST_F(CliFeatures, UnknownExtractorListsTheKnownOnes) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  ExpectError({"features", (images_ / "freiburg0.png").string(), "--extractor", "surf", "--out",
               (dir_ / "out").string()},
              1, "features", {"'surf'", "sift", "superpoint"});
}

TEST_F(CliFeatures, WeightsOfAnotherNetworkAreRefused) {
  const fs::path aliked = Abs(ModelsDir() / "aliked/aliked-n16.pth");
  const fs::path superpoint = Abs(ModelsDir() / "superpoint/superpoint_v1_from_fp16.pth");
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  VIGIL_REQUIRE_FILE(aliked);
  VIGIL_REQUIRE_FILE(superpoint);
  const std::string image = (images_ / "freiburg0.png").string();
  const std::string out = (dir_ / "out").string();
  ExpectError(
      {"features", image, "--extractor", "superpoint", "--weights", aliked.string(), "--out", out},
      1, "features", {aliked.string(), "SuperPoint"});
  ExpectError({"features", image, "--extractor", "aliked-n16", "--weights", superpoint.string(),
               "--out", out},
              1, "features", {superpoint.string(), "ALIKED"});
  const fs::path text = WriteText("weights.pth", "these are not weights\n");
  ExpectError(
      {"features", image, "--extractor", "superpoint", "--weights", text.string(), "--out", out}, 1,
      "features", {text.string(), "checkpoint"});
}

TEST_F(CliFeatures, NonsenseParametersNameTheOption) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  const std::string image = (images_ / "freiburg0.png").string();
  const std::string out = (dir_ / "out").string();
  // Below -1 is meaningless for every extractor (-1 = all), including those that clamp.
  for (const char* extractor : {"sift", "orb", "superpoint"}) {
    ExpectError(
        {"features", image, "--extractor", extractor, "--max-keypoints", "-5", "--out", out}, 1,
        "features", {"max", "-1"});
  }
  ExpectError({"features", image, "--extractor", "sift", "--resize", "0x0", "--out", out}, 1,
              "features", {"--resize", "0x0"});
  ExpectError({"features", image, "--extractor", "sift", "--resize", "640by480", "--out", out}, 1,
              "features", {"--resize", "640by480"});
  ExpectError({"features", image, "--extractor", "sift", "--max-keypoints", "many", "--out", out},
              2, "features", {"--max-keypoints", "many"});
  ExpectError({"features", image, "--extractor", "sift", "--threads", "0", "--out", out}, 1,
              "features", {"threads"});
  ExpectError({"features", image, "--extractor", "sift"}, 2, "features", {"--out"});
  EXPECT_TRUE(FilesWithExtension(out, ".json").empty());
}

TEST_F(CliFeatures, SiftWritesJsonDescriptorsAndOverlayWithConsistentCounts) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  const fs::path out = dir_ / "out";
  const CliResult r = Run({"features", (images_ / "freiburg0.png").string(), "--extractor", "sift",
                           "--max-keypoints", "500", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "freiburg0.json"));
  const json doc = json::parse(ReadFile(out / "freiburg0.json"));
  EXPECT_EQ(doc.at("extractor"), "sift");
  EXPECT_EQ(doc.at("width"), 640);
  EXPECT_EQ(doc.at("height"), 480);
  EXPECT_EQ(doc.at("descriptors"), "freiburg0.desc.npy");
  const size_t n = doc.at("keypoints").size();
  EXPECT_GT(n, 100u);  // a textured office frame gives SIFT hundreds of keypoints
  EXPECT_LE(n, 500u);  // --max-keypoints
  EXPECT_EQ(doc.at("scores").size(), n);
  for (const json& kp : doc.at("keypoints")) {
    ASSERT_EQ(kp.size(), 2u);
    EXPECT_GE(kp[0].get<double>(), -0.5);
    EXPECT_LT(kp[0].get<double>(), 639.5);
    EXPECT_GE(kp[1].get<double>(), -0.5);
    EXPECT_LT(kp[1].get<double>(), 479.5);
  }
  const NpyInfo npy = ReadNpyHeader(out / "freiburg0.desc.npy");
  EXPECT_EQ(npy.descr, "<f4");
  EXPECT_EQ(npy.rows, static_cast<long>(n));
  EXPECT_EQ(npy.cols, 128);
  EXPECT_EQ(npy.data_bytes, n * 128 * sizeof(float));
  EXPECT_EQ(PngSize(out / "freiburg0.png"), std::make_pair(640, 480));
  EXPECT_TRUE(TemporaryFiles(out).empty());
}

// ---------------------------------------------------------------------------------------------
// vigil match

TEST_F(CliMatch, BadImagesNameTheFile) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  const std::string image = (images_ / "freiburg0.png").string();
  const std::string out = (dir_ / "out").string();
  const std::string missing = (dir_ / "nope.png").string();
  ExpectError({"match", image, missing, "--extractor", "sift", "--out", out}, 1, "match",
              {missing});
  const fs::path png = TruncatedPng("cut.png");
  ExpectError({"match", image, png.string(), "--extractor", "sift", "--out", out}, 1, "match",
              {png.string(), "cannot read image"});
  ExpectError({"match", image, "--extractor", "sift", "--out", out}, 1, "match", {"IMG0 IMG1"});
  const std::string missing_json = (dir_ / "nope.json").string();
  ExpectError({"match", "--features0", missing_json, "--features1", missing_json, "--out", out}, 1,
              "match", {missing_json});
  EXPECT_FALSE(fs::exists(dir_ / "out" / "matches.json"));
}

TEST_F(CliMatch, NonsenseParametersNameTheOption) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  const std::string a = (images_ / "freiburg0.png").string();
  const std::string b = (images_ / "freiburg0s.png").string();
  const std::string out = (dir_ / "out").string();
  ExpectError({"match", a, b, "--extractor", "sift", "--threshold", "2", "--out", out}, 1, "match",
              {"threshold"});
  ExpectError({"match", a, b, "--extractor", "surf", "--out", out}, 1, "match", {"'surf'"});
  ExpectError({"match", a, b, "--extractor", "sift", "--matcher", "flann", "--out", out}, 1,
              "match", {"'flann'"});
  ExpectError({"match", a, b, "--extractor", "sift", "--resize", "0x0", "--out", out}, 1, "match",
              {"--resize"});
  ExpectError({"match", a, b, "--extractor", "sift", "--verify", "affine", "--out", out}, 1,
              "match", {"verify"});
  ExpectError({"match", a, b, "--extractor", "sift", "--max-keypoints", "-2", "--out", out}, 1,
              "match", {"--max-keypoints"});
  // A matcher's own shorthand (declared in its options header) is checked like any option.
  ExpectError({"match", a, b, "--extractor", "sift", "--ratio", "fast", "--out", out}, 1, "match",
              {"--ratio", "nn.ratio"});
  ExpectError({"match", a, b, "--extractor", "sift", "--ratio", "0", "--out", out}, 1, "match",
              {"ratio"});
  // A shorthand of a matcher that does not run would be silently unused: it is refused.
  ExpectError({"match", a, b, "--extractor", "sift", "--matcher", "superglue", "--ratio", "0.8",
               "--out", out},
              1, "match", {"--ratio", "nn", "superglue"});
}

// The nn matcher's shorthand --ratio reaches its ratio test: a strict ratio keeps fewer matches,
// and only ones the default run also has (the ratio test only removes).
TEST_F(CliMatch, RatioShorthandReachesTheNearestNeighbourMatcher) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  auto matches = [&](const std::vector<std::string>& extra, const std::string& name) {
    std::vector<std::string> args = {"match", (images_ / "freiburg0.png").string(),
                                     (images_ / "freiburg0s.png").string(), "--extractor", "sift",
                                     "--out", (dir_ / name).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::set<std::pair<int, int>> pairs;
    const json doc = json::parse(ReadFile(dir_ / name / "matches.json"));
    for (const json& m : doc.at("matches")) {
      pairs.insert({m.at("i").get<int>(), m.at("j").get<int>()});
    }
    return pairs;
  };
  const auto all = matches({}, "default");
  const auto strict = matches({"--ratio", "0.6"}, "strict");
  EXPECT_GT(all.size(), 200u);
  EXPECT_LT(strict.size(), all.size());
  EXPECT_GT(strict.size(), 0u);
  for (const auto& p : strict) EXPECT_TRUE(all.count(p)) << p.first << " -> " << p.second;
}

// --matches verifies a written match file again without matching: the same inliers as verifying
// while matching, and the flags that would compute matches are refused with it.
TEST_F(CliMatch, MatchFileIsVerifiedAgainAsWhenMatching) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  const std::string a = (images_ / "freiburg0.png").string();
  const std::string b = (images_ / "freiburg0s.png").string();
  auto inliers = [&](const std::string& name) {
    std::vector<int> flags;
    const json doc = json::parse(ReadFile(dir_ / name / "matches.json"));
    for (const json& m : doc.at("matches")) flags.push_back(m.at("inlier").get<bool>());
    return flags;
  };
  ASSERT_EQ(Run({"match", a, b, "--extractor", "sift", "--out", (dir_ / "plain").string()}).exit_code, 0);
  ASSERT_EQ(Run({"match", a, b, "--extractor", "sift", "--verify", "homography", "--out",
                 (dir_ / "direct").string()})
                .exit_code,
            0);
  const std::string file = (dir_ / "plain" / "matches.json").string();
  const CliResult again =
      Run({"match", "--matches", file, "--verify", "homography", "--out", (dir_ / "again").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("homography inliers"), std::string::npos) << again.out;
  const std::vector<int> direct = inliers("direct");
  EXPECT_GT(std::count(direct.begin(), direct.end(), 1), 100);
  EXPECT_EQ(inliers("again"), direct);
  EXPECT_TRUE(fs::exists(dir_ / "again" / "matches.png"));

  const std::string out = (dir_ / "refused").string();
  ExpectError({"match", "--matches", file, "--out", out}, 1, "match", {"--verify"});
  ExpectError({"match", "--matches", file, "--verify", "homography", "--matcher", "superglue", "--out", out}, 1,
              "match", {"--matcher", "--matches"});
  ExpectError({"match", a, b, "--matches", file, "--verify", "homography", "--out", out}, 1, "match",
              {"images", "--matches"});
  const fs::path bad = WriteText("bad_matches.json", "{\"image0\": \"a\", \"image1\": \"b\"}");
  ExpectError({"match", "--matches", bad.string(), "--verify", "homography", "--out", out}, 1, "match",
              {bad.string(), "keypoints0"});
  EXPECT_FALSE(fs::exists(dir_ / "refused" / "matches.json"));
}

TEST_F(CliMatch, MatcherWeightsOfAnotherNetworkAreRefused) {
  const fs::path aliked = Abs(ModelsDir() / "aliked/aliked-n16.pth");
  VIGIL_REQUIRE_FILE(aliked);
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  ExpectError({"match", (images_ / "freiburg0.png").string(), (images_ / "freiburg0s.png").string(),
               "--extractor", "sift", "--matcher", "superglue", "--matcher-weights",
               aliked.string(), "--out", (dir_ / "out").string()},
              1, "match", {aliked.string()});
}

// freiburg0s.png is freiburg0.png shifted by (+13, +7) pixels (fixtures/README.md): most matches
// must show exactly that displacement. SIFT is sub-pixel accurate and unambiguous here; ORB has
// more repeated-texture confusions, hence the lower bar.
TEST_F(CliMatch, SiftAndOrbRecoverTheKnownShift) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  for (const auto& [extractor, min_fraction] : {std::pair{"sift", 0.95}, std::pair{"orb", 0.75}}) {
    SCOPED_TRACE(extractor);
    const fs::path out = dir_ / extractor;
    const CliResult r =
        Run({"match", (images_ / "freiburg0.png").string(), (images_ / "freiburg0s.png").string(),
             "--extractor", extractor, "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(ReadFile(out / "matches.json"));
    const json& matches = doc.at("matches");
    ASSERT_GT(matches.size(), 200u);
    int on_shift = 0;
    for (const json& m : matches) {
      const double dx = m.at("x1").get<double>() - m.at("x0").get<double>();
      const double dy = m.at("y1").get<double>() - m.at("y0").get<double>();
      on_shift += std::abs(dx - 13) <= 1.5 && std::abs(dy - 7) <= 1.5;
      // The reported coordinates are those of keypoints i and j.
      const int i = m.at("i"), j = m.at("j");
      EXPECT_EQ(doc.at("keypoints0").at(i).at(0).get<double>(), m.at("x0").get<double>());
      EXPECT_EQ(doc.at("keypoints1").at(j).at(1).get<double>(), m.at("y1").get<double>());
    }
    EXPECT_GE(on_shift, min_fraction * static_cast<double>(matches.size()))
        << on_shift << " of " << matches.size() << " matches at (+13, +7)";
    // The one-line summary on stdout agrees with the file.
    EXPECT_NE(r.out.find(std::to_string(matches.size()) + " matches"), std::string::npos) << r.out;
    EXPECT_EQ(PngSize(out / "matches.png").second, 480);
    EXPECT_TRUE(TemporaryFiles(out).empty());
  }
}

TEST_F(CliMatch, ReusesFeaturesWrittenByVigilFeatures) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0s.png");
  const std::string a = (images_ / "freiburg0.png").string();
  const std::string b = (images_ / "freiburg0s.png").string();
  const fs::path features = dir_ / "features";
  ASSERT_EQ(Run({"features", a, b, "--extractor", "sift", "--out", features.string()}).exit_code,
            0);
  const CliResult reused =
      Run({"match", "--features0", (features / "freiburg0.json").string(), "--features1",
           (features / "freiburg0s.json").string(), "--out", (dir_ / "reused").string()});
  ASSERT_EQ(reused.exit_code, 0) << reused.err;
  const CliResult direct =
      Run({"match", a, b, "--extractor", "sift", "--out", (dir_ / "direct").string()});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;

  const json from_files = json::parse(ReadFile(dir_ / "reused" / "matches.json"));
  const json from_images = json::parse(ReadFile(dir_ / "direct" / "matches.json"));
  const json f0 = json::parse(ReadFile(features / "freiburg0.json"));
  // The keypoints are those of the features file, and SIFT is deterministic, so matching the
  // saved features gives the same matches as extracting again.
  EXPECT_EQ(from_files.at("keypoints0").size(), f0.at("keypoints").size());
  EXPECT_EQ(from_files.at("matches").size(), from_images.at("matches").size());
  EXPECT_EQ(from_files.at("timings_ms").count("extract0"), 0u);  // nothing was extracted
  EXPECT_EQ(from_images.at("timings_ms").count("extract0"), 1u);
}

// ---------------------------------------------------------------------------------------------
// vigil calibrate

TEST_F(CliCalibrate, NonsenseParametersNameTheOption) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  const std::string images = images_.string();
  const std::string out = (dir_ / "out").string();
  ExpectError(
      {"calibrate", "--images", images, "--shift", "abc", "--extractor", "sift", "--out", out}, 1,
      "calibrate", {"--shift", "'abc'"});
  ExpectError(
      {"calibrate", "--images", images, "--shift", "13;7", "--extractor", "sift", "--out", out}, 1,
      "calibrate", {"--shift", "'13;7'"});
  ExpectError(
      {"calibrate", "--images", images, "--shift", "0,0", "--extractor", "sift", "--out", out}, 1,
      "calibrate", {"--shift", "0,0"});
  ExpectError(
      {"calibrate", "--images", images, "--threshold", "2", "--extractor", "sift", "--out", out}, 1,
      "calibrate", {"threshold"});
  ExpectError({"calibrate", "--images", images, "--thresholds", "0:2:0.1", "--extractor", "sift",
               "--out", out},
              1, "calibrate", {"0:2:0.1"});
  ExpectError({"calibrate", "--images", images, "--extractor", "surf", "--out", out}, 1,
              "calibrate", {"'surf'"});
  EXPECT_FALSE(fs::exists(dir_ / "out" / "calibration.json"));
}

TEST_F(CliCalibrate, MissingInputsNameWhatIsMissing) {
  const std::string out = (dir_ / "out").string();
  const std::string missing = (dir_ / "nowhere").string();
  ExpectError({"calibrate", "--images", missing, "--extractor", "sift", "--out", out}, 1,
              "calibrate", {missing});
  ExpectError({"calibrate", "--extractor", "sift", "--out", out}, 1, "calibrate",
              {"--pairs", "--images"});
  const std::string pairs = (dir_ / "pairs.csv").string();
  ExpectError({"calibrate", "--pairs", pairs, "--extractor", "sift", "--out", out}, 1, "calibrate",
              {pairs});
}

// The calibration file is the hand-off to inspect: the threshold it holds is the one inspect uses.
// One image shifted synthetically by the fixture pair's (+13, +7); SIFT + nn confidences lie
// above 0.8, hence the fine sweep there (calibrate's own note says so for the default range).
TEST_F(CliCalibrate, CalibrationFileSetsTheInspectThreshold) {
  VIGIL_REQUIRE_FILE(images_ / "freiburg0.png");
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  fs::create_directories(dir_ / "images");
  fs::copy_file(images_ / "freiburg0.png", dir_ / "images" / "freiburg0.png");
  const fs::path calibration = dir_ / "calibration";
  const CliResult c =
      Run({"calibrate", "--images", (dir_ / "images").string(), "--shift", "13,7", "--extractor",
           "sift", "--thresholds", "0.8:0.99:0.01", "--quiet", "--out", calibration.string()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_TRUE(fs::exists(calibration / "calibration.png"));
  const json doc = json::parse(ReadFile(calibration / "calibration.json"));
  EXPECT_EQ(doc.at("format"), "vigil-calibration");
  EXPECT_EQ(doc.at("pairs").size(), 1u);
  const double threshold = doc.at("threshold");
  EXPECT_GE(threshold, 0.8);
  EXPECT_LE(threshold, 0.99);
  EXPECT_NE(c.out.find("calibrated threshold"), std::string::npos) << c.out;

  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const fs::path out = dir_ / "out";
  const CliResult r = Run(InspectArgs(data, out,
                                      {"--extractor", "sift", "--segmenter", "graph", "--no-panels",
                                       "--quiet", "--calibration",
                                       (calibration / "calibration.json").string()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(calibration " + (calibration / "calibration.json").string() + ")"),
            std::string::npos)
      << r.out;
  const json result = json::parse(ReadFile(out / (fs::path(kQuery0).stem().string() + ".json")));
  EXPECT_NEAR(result.at("threshold").get<double>(), threshold, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// vigil inspect

TEST_F(CliInspect, BadRunFoldersNameTheFolderOrFile) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const std::string query = (data / "query").string();
  const std::string out = (dir_ / "out").string();

  fs::create_directories(dir_ / "empty");
  ExpectError({"inspect", "--reference", (dir_ / "empty").string(), "--query", query, "--extractor",
               "sift", "--out", out},
              1, "inspect", {(dir_ / "empty").string(), "no images"});
  const std::string missing = (dir_ / "nowhere").string();
  ExpectError(
      {"inspect", "--reference", missing, "--query", query, "--extractor", "sift", "--out", out}, 2,
      "inspect", {missing});

  // A poses.csv that does not match its folder: it lists all nine reference frames, the folder
  // holds two.
  const fs::path mismatched = dir_ / "mismatched";
  fs::create_directories(mismatched);
  fs::copy_file(data / "reference" / kReference0, mismatched / kReference0);
  fs::copy_file(data / "reference" / kReference1, mismatched / kReference1);
  fs::copy_file(freiburg_ / "reference" / "poses.csv", mismatched / "poses.csv");
  ExpectError({"inspect", "--reference", mismatched.string(), "--query", query, "--extractor",
               "sift", "--out", out},
              1, "inspect", {(mismatched / "poses.csv").string()});

  // A corrupt query image stops the run under --strict, with one line naming it.
  const fs::path bad_query = dir_ / "bad_query";
  fs::create_directories(bad_query);
  fs::rename(TruncatedPng("q.png"), bad_query / "q.png");
  ExpectError({"inspect", "--reference", (data / "reference").string(), "--query",
               bad_query.string(), "--extractor", "sift", "--quiet", "--strict", "--out", out},
              1, "inspect", {(bad_query / "q.png").string()});
  EXPECT_TRUE(FilesWithExtension(out, ".json").empty());
}

TEST_F(CliInspect, TruncatedFramesAreSkippedAndNamed) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  // One truncated PNG among the references and one truncated JPEG among the queries: the run
  // completes on the rest, names both, and exits with the documented code 3.
  fs::rename(TruncatedPng("cut_reference.png"), data / "reference" / "cut_reference.png");
  const fs::path jpeg = vigil::testing::DataDir() / "deeppcb-dev" / "query" / "20085000_test.jpg";
  VIGIL_REQUIRE_FILE(jpeg);
  const std::string bytes = ReadFile(jpeg);
  std::ofstream(data / "query" / "cut_query.jpg", std::ios::binary).write(bytes.data(), bytes.size() / 2);
  const fs::path out = dir_ / "out_skipped";
  const CliResult r = Run({"inspect", "--reference", (data / "reference").string(), "--query",
                           (data / "query").string(), "--no-poses", "--extractor", "sift", "--quiet",
                           "--no-panels", "--out", out.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("cut_reference.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cut_query.jpg: cannot read image (truncated JPEG"), std::string::npos) << r.err;
  const auto skipped = nlohmann::json::parse(ReadFile(out / "skipped.json"))["skipped"];
  ASSERT_EQ(skipped.size(), 2u) << skipped.dump();
  EXPECT_FALSE(fs::exists(out / "cut_query.json"));  // never a result passed off as "no change"
  EXPECT_TRUE(fs::exists(out / (fs::path(kQuery0).stem().string() + ".json")));
  EXPECT_NE(ReadFile(out / "report.html").find("Skipped frames (2)"), std::string::npos);
}

TEST_F(CliInspect, CorruptCalibrationFileIsNamed) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const std::vector<std::string> base = InspectArgs(data, dir_ / "out", {"--extractor", "sift"});
  for (const auto& [name, text] :
       {std::pair{"truncated.json", "{\"format\": \"vigil-calib"},
        std::pair{"other.json", "{\"threshold\": 0.3}"}, std::pair{"empty.json", ""}}) {
    const fs::path file = WriteText(name, text);
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--calibration", file.string()});
    ExpectError(args, 1, "inspect", {file.string()});
  }
  std::vector<std::string> args = base;
  args.insert(args.end(), {"--calibration", (dir_ / "absent.json").string()});
  ExpectError(args, 1, "inspect", {(dir_ / "absent.json").string()});
}

TEST_F(CliInspect, NonsenseParametersNameTheOption) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const std::vector<std::string> base = InspectArgs(data, dir_ / "out");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--extractor", "sift", "--threshold", "2"}, "threshold"},
      {{"--extractor", "sift", "--max-keypoints", "-7"}, "--max-keypoints"},
      {{"--extractor", "surf"}, "'surf'"},
      {{"--extractor", "sift", "--segmenter", "sam"}, "'sam'"},
      {{"--extractor", "sift", "--matcher", "flann"}, "'flann'"},
      {{"--extractor", "sift", "--pose-tie-break", "closest"}, "--pose-tie-break"},
      {{"--extractor", "sift", "--confirm-keypoints", "1.5"}, "min_keypoint_share"},
      {{"--extractor", "sift", "--confirm", "votes"}, "confirmation"},
      {{"--extractor", "sift", "--set", "dense_confirm.false_alarm_rate=0"}, "dense_confirm.false_alarm_rate"},
      {{"--extractor", "sift", "--set", "dense_deep.window_cells=99"}, "window_cells"},
  };
  for (const auto& [extra, needle] : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    ExpectError(args, 1, "inspect", {needle});
  }
  EXPECT_TRUE(FilesWithExtension(dir_ / "out", ".json").empty());
}

TEST_F(CliInspect, SubsetWritesReportMasksAndNoTemporaries) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const fs::path out = dir_ / "out";
  const CliResult r =
      Run(InspectArgs(data, out, {"--extractor", "sift", "--segmenter", "graph", "--quiet"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 queries (0 resumed)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("segmenter graph"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "report.html"));
  EXPECT_NE(ReadFile(out / "report.html").find("<html"), std::string::npos);
  const std::vector<std::pair<std::string, std::string>> expected = {{kQuery0, kReference0},
                                                                     {kQuery1, kReference1}};
  for (const auto& [query, reference] : expected) {
    const std::string stem = fs::path(query).stem().string();
    SCOPED_TRACE(stem);
    ASSERT_TRUE(fs::exists(out / (stem + ".json")));
    const json doc = json::parse(ReadFile(out / (stem + ".json")));
    EXPECT_EQ(doc.at("query"), query);
    // Pose retrieval picks the previous frame (pairs.csv), the nearer one by 0.3 m.
    EXPECT_EQ(doc.at("reference").at("image"), reference);
    EXPECT_TRUE(doc.at("anomalies").is_array());
    EXPECT_TRUE(doc.at("timings_ms").contains("extract"));
    EXPECT_EQ(PngSize(out / "masks" / (stem + ".png")), std::make_pair(640, 480));
    EXPECT_TRUE(fs::exists(out / "panels" / (stem + ".png")));
  }
  EXPECT_TRUE(TemporaryFiles(out).empty()) << TemporaryFiles(out).front();

  // --no-poses: the same queries, references chosen by appearance.
  const fs::path no_poses = dir_ / "out_no_poses";
  const CliResult a = Run(InspectArgs(data, no_poses,
                                      {"--extractor", "sift", "--segmenter", "graph", "--no-poses",
                                       "--no-panels", "--quiet"}));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  for (const auto& [query, reference] : expected) {
    const json doc =
        json::parse(ReadFile(no_poses / (fs::path(query).stem().string() + ".json")));
    EXPECT_EQ(doc.at("reference").at("rule"), "appearance") << query;
  }

  // eval-changes reads these predictions against the full dataset: 22 queries lack a mask.
  const CliResult e = Run({"eval-changes", "--dataset", freiburg_.string(), "--predictions",
                           out.string(), "--out", (dir_ / "eval").string()});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const json metrics = json::parse(ReadFile(dir_ / "eval" / "metrics.json"));
  EXPECT_EQ(metrics.at("missing_masks").size(), 22u);
  EXPECT_TRUE(fs::exists(dir_ / "eval" / "metrics.md"));
  EXPECT_EQ(e.err_lines(), 1) << e.err;  // the one warning about the missing masks
  EXPECT_NE(e.err.find("warning"), std::string::npos) << e.err;
}

// SIGINT during a run on the full changes-freiburg data: exit code 130, every JSON present is
// complete and has its mask, nothing half-written remains, and a re-run resumes exactly the
// finished queries. Cheap settings (no segmenter, no panels, 300 keypoints) keep the re-run of
// the 24 queries short; the resume logic does not depend on them.
TEST_F(CliInspect, InterruptKeepsCompleteOutputsAndRerunResumes) {
  VIGIL_REQUIRE_FILE(freiburg_ / "query" / "poses.csv");
  const fs::path out = dir_ / "out";
  const int num_queries = static_cast<int>(FilesWithExtension(freiburg_ / "query", ".png").size());
  ASSERT_EQ(num_queries, 24);
  const std::vector<std::string> args =
      InspectArgs(freiburg_, out, {"--extractor", "sift", "--max-keypoints", "300",
                                   "--no-segmenter", "--no-panels", "--quiet"});

  const pid_t pid = Spawn(args, dir_ / "run1.out", dir_ / "run1.err");
  ASSERT_GT(pid, 0);
  // Interrupt once the first query is done (on an idle machine ~1-2 s after the start), so that
  // the re-run has something to resume. Stop waiting if the process ends on its own.
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  bool ended = false;
  while (FilesWithExtension(out, ".json").empty() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ended = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string early_err = ReadFile(dir_ / "run1.err");
  ASSERT_FALSE(ended) << "vigil ended before the interrupt: " << early_err;
  ASSERT_EQ(kill(pid, SIGINT), 0);
  const int exit_code = Wait(pid, kRunTimeoutS);
  const std::string err = ReadFile(dir_ / "run1.err");
  ASSERT_EQ(exit_code, 130) << err;
  EXPECT_NE(err.find("interrupted"), std::string::npos) << err;

  const std::vector<fs::path> done = FilesWithExtension(out, ".json");
  EXPECT_GE(done.size(), 1u);
  EXPECT_LT(done.size(), 24u) << "the run finished before the interrupt; nothing was tested";
  for (const fs::path& file : done) {
    SCOPED_TRACE(file.string());
    json doc;
    ASSERT_NO_THROW(doc = json::parse(ReadFile(file)));
    EXPECT_EQ(doc.at("query"), file.stem().string() + ".png");
    EXPECT_TRUE(fs::exists(out / "masks" / (file.stem().string() + ".png")));
  }
  EXPECT_TRUE(TemporaryFiles(out).empty()) << TemporaryFiles(out).front();
  EXPECT_FALSE(fs::exists(out / "report.html"));  // written last, only by a finished run

  const CliResult rerun = Run(args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(rerun.out, m, std::regex(R"((\d+) queries \((\d+) resumed\))")))
      << rerun.out;
  EXPECT_EQ(std::stoi(m[1]), 24);
  EXPECT_EQ(std::stoi(m[2]), static_cast<int>(done.size())) << rerun.out;
  EXPECT_EQ(FilesWithExtension(out, ".json").size(), 26u);  // 24 queries + skipped.json + events.json
  EXPECT_TRUE(fs::exists(out / "events.json"));
  EXPECT_TRUE(fs::exists(out / "skipped.json"));
  EXPECT_TRUE(fs::exists(out / "report.html"));
  EXPECT_TRUE(TemporaryFiles(out).empty());
}

// ---------------------------------------------------------------------------------------------
// vigil eval-changes

TEST_F(CliEvalChanges, BadFoldersAndParametersAreNamed) {
  VIGIL_REQUIRE_FILE(freiburg_ / "pairs.csv");
  const std::string missing = (dir_ / "nowhere").string();
  const std::string out = (dir_ / "out").string();
  fs::create_directories(dir_ / "predictions");
  const std::string predictions = (dir_ / "predictions").string();
  ExpectError({"eval-changes", "--dataset", missing, "--predictions", predictions, "--out", out}, 1,
              "eval-changes", {missing});
  ExpectError(
      {"eval-changes", "--dataset", freiburg_.string(), "--predictions", missing, "--out", out}, 1,
      "eval-changes", {missing});
  ExpectError({"eval-changes", "--dataset", freiburg_.string(), "--predictions", predictions,
               "--min-coverage", "2", "--out", out},
              1, "eval-changes", {"coverage"});
  ExpectError({"eval-changes", "--dataset", freiburg_.string(), "--out", out}, 2, "eval-changes",
              {"--predictions"});
  EXPECT_FALSE(fs::exists(dir_ / "out" / "metrics.json"));
}

// ---------------------------------------------------------------------------------------------
// vigil spade fit | score | eval

// --set reaches a detector field no flag exists for; the bank records it (its JSON header is
// text inside the binary file).
TEST_F(CliSpade, SetReachesAnyDetectorOption) {
  const fs::path backbone = Abs(FixturesDir() / "spade" / "resnet18_random_taps.onnx");
  const fs::path good = DataDir() / "textures" / "brick" / "train" / "good";
  VIGIL_REQUIRE_FILE(backbone);
  VIGIL_REQUIRE_FILE(good);
  const fs::path train = dir_ / "train";
  fs::create_directories(train);
  int copied = 0;
  for (const auto& entry : fs::directory_iterator(good)) {
    if (copied++ < 3) fs::copy_file(entry.path(), train / entry.path().filename());
  }
  const fs::path bank = dir_ / "bank.bin";
  const CliResult fit = Run({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
                             "--method", "patchcore", "--set", "patchcore.coreset_ratio=0.25", "--set",
                             "patchcore.reweight_neighbours=4", "--out", bank.string()});
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const std::string bytes = ReadFile(bank);
  EXPECT_NE(bytes.find("\"coreset_ratio\":0.25"), std::string::npos);
  EXPECT_NE(bytes.find("\"reweight_neighbours\":4"), std::string::npos);

  // The methods' declared shorthands reach the same fields: --sigma is both methods' and sets
  // the running one's, an array field takes comma-separated values.
  const fs::path bank2 = dir_ / "bank2.bin";
  const CliResult shorthands =
      Run({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(), "--method",
           "patchcore", "--coreset-ratio", "0.5", "--sigma", "2.5", "--patchcore-layers", "1,2",
           "--out", bank2.string()});
  ASSERT_EQ(shorthands.exit_code, 0) << shorthands.err;
  const std::string bytes2 = ReadFile(bank2);
  EXPECT_NE(bytes2.find("\"coreset_ratio\":0.5"), std::string::npos);
  EXPECT_NE(bytes2.find("\"sigma\":2.5"), std::string::npos);
  EXPECT_NE(bytes2.find("\"layers\":[1,2]"), std::string::npos);
}

TEST_F(CliSpade, BadInputsAreNamed) {
  const fs::path backbone = Abs(FixturesDir() / "spade" / "resnet18_random_taps.onnx");
  const fs::path train = Abs(DataDir() / "textures" / "brick" / "train" / "good");
  VIGIL_REQUIRE_FILE(backbone);
  VIGIL_REQUIRE_FILE(train);
  const std::string missing = (dir_ / "nowhere").string();
  const std::string bank = (dir_ / "bank.bin").string();
  const fs::path text = WriteText("not_a_model.onnx", "{\"threshold\": 0.3}\n");

  const CliResult none = Run({"spade"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err_lines(), 1) << none.err;

  ExpectError({"spade", "fit", "--train", missing, "--backbone", backbone.string(), "--out", bank},
              1, "spade", {missing});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
               "--top-k", "0", "--out", bank},
              1, "spade", {"k"});
  ExpectError(
      {"spade", "fit", "--train", train.string(), "--backbone", text.string(), "--out", bank}, 1,
      "spade", {text.string()});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", (dir_ / "x.onnx").string(),
               "--out", bank},
              1, "spade", {(dir_ / "x.onnx").string()});
  ExpectError({"spade", "score", (images_ / "freiburg0.png").string(), "--bank", text.string()}, 1,
              "spade", {text.string()});
  ExpectError({"spade", "score", (images_ / "freiburg0.png").string(), "--bank", bank}, 1, "spade",
              {bank});
  ExpectError({"spade", "eval", "--data", missing, "--backbone", backbone.string(), "--out",
               (dir_ / "eval").string()},
              1, "spade", {missing});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(), "--set",
               "spade.k=0", "--out", bank},
              1, "spade", {"spade.k"});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(), "--set",
               "patchcore.sead=1", "--out", bank},
              1, "spade", {"sead", "seed"});
  // A shorthand of the method that does not run, and on scoring a field the bank fixed, would be
  // silently unused: both are refused, naming the option.
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
               "--coreset-ratio", "0.5", "--out", bank},
              1, "spade", {"--coreset-ratio", "patchcore", "spade"});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
               "--method", "patchcore", "-k", "3", "--out", bank},
              1, "spade", {"--top-k", "spade", "patchcore"});
  ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
               "--method", "padim", "--out", bank},
              1, "spade", {"--method", "padim"});
  ExpectError({"spade", "score", (images_ / "freiburg0.png").string(), "--bank", bank, "--set",
               "patchcore.seed=3"},
              1, "spade", {"patchcore.seed", "fitted"});
  const CliResult seed = Run({"spade", "score", (images_ / "freiburg0.png").string(), "--bank",
                              bank, "--seed", "3"});
  EXPECT_EQ(seed.exit_code, 2) << "a fit-time flag is no option of `spade score`";
  for (const char* size : {"abc", "0", "10x", "224x576x3"}) {
    ExpectError({"spade", "fit", "--train", train.string(), "--backbone", backbone.string(),
                 "--input-size", size, "--out", bank},
                1, "spade", {"--input-size", size});
  }
  EXPECT_FALSE(fs::exists(bank));
}

}  // namespace

namespace vigil {
namespace {

// The map commands as a user runs them: build, info, inspect --map giving the folder's results,
// and the errors: --reference and --map together, neither, a map of other settings, a file that
// is not a map.
TEST_F(CliInspect, MapBuildInfoAndInspectWithTheMap) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const fs::path site = dir_ / "site.vmap";
  const CliResult built = Run({"map", "build", "--reference", (data / "reference").string(), "--out",
                               site.string(), "--extractor", "sift"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const CliResult info = Run({"map", "info", site.string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("sift"), std::string::npos) << info.out;

  const std::vector<std::string> flags = {"--extractor", "sift", "--segmenter", "graph", "--quiet"};
  const CliResult folder = Run(InspectArgs(data, dir_ / "folder", flags));
  ASSERT_EQ(folder.exit_code, 0) << folder.err;
  std::vector<std::string> map_args = {"inspect", "--map", site.string(), "--query",
                                       (data / "query").string(), "--out", (dir_ / "map").string()};
  map_args.insert(map_args.end(), flags.begin(), flags.end());
  const CliResult with_map = Run(map_args);
  ASSERT_EQ(with_map.exit_code, 0) << with_map.err;
  // The map stores the dense stage's reference-side deep features (when its model is found, as
  // it is for the inspection's deep channel): the map run loads what the folder run computes.
  int computed_in_folder = 0, computed_with_map = 0, loaded_with_map = 0;
  for (const char* query : {kQuery0, kQuery1}) {
    const std::string name = fs::path(query).stem().string() + ".json";
    json a = json::parse(ReadFile(dir_ / "folder" / name)), b = json::parse(ReadFile(dir_ / "map" / name));
    computed_in_folder += a["timings_ms"].contains("deep_features_reference");
    computed_with_map += b["timings_ms"].contains("deep_features_reference");
    loaded_with_map += b["timings_ms"].contains("load_reference_deep");
    for (json* doc : {&a, &b}) {
      doc->erase("timings_ms");
      doc->erase("config_hash");
    }
    EXPECT_EQ(a, b) << name;
  }
  if (computed_in_folder > 0) {
    EXPECT_EQ(computed_with_map, 0);
    EXPECT_GT(loaded_with_map, 0);
    EXPECT_NE(info.out.find("\"deep_feature_frames\": 2"), std::string::npos) << info.out;
  }

  std::vector<std::string> both = InspectArgs(data, dir_ / "both", flags);
  both.insert(both.end(), {"--map", site.string()});
  ExpectError(both, 2, "inspect", {"--map"});
  ExpectError({"inspect", "--query", (data / "query").string(), "--out", (dir_ / "none").string()}, 1,
              "inspect", {"--reference", "--map"});
  std::vector<std::string> other = map_args;
  other[6] = (dir_ / "other").string();
  other[8] = "orb";  // --extractor orb against a sift map
  ExpectError(other, 1, "inspect", {site.string(), "extractor"});
  fs::copy_file(data / "reference" / kReference0, dir_ / "image.vmap");
  std::vector<std::string> not_a_map = map_args;
  not_a_map[2] = (dir_ / "image.vmap").string();
  not_a_map[6] = (dir_ / "bad").string();
  ExpectError(not_a_map, 1, "inspect", {"image.vmap"});
  EXPECT_FALSE(fs::exists(dir_ / "other" / "report.html"));
  EXPECT_FALSE(fs::exists(dir_ / "bad" / "report.html"));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// One reference image instead of a run folder (a fixed camera, a template), in a build with the
// ROS bag input too, where a file given as a run is otherwise taken for a bag: no retrieval, the
// image is every query's reference.
TEST_F(CliInspect, OneReferenceImageIsEveryQuerysReference) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const CliResult r = Run({"inspect", "--reference", (data / "reference" / kReference0).string(), "--query",
                           (data / "query").string(), "--out", (dir_ / "out").string(), "--extractor",
                           "sift", "--no-segmenter", "--quiet", "--no-panels"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* query : {kQuery0, kQuery1}) {
    const json doc = json::parse(ReadFile(dir_ / "out" / (fs::path(query).stem().string() + ".json")));
    EXPECT_EQ(doc["reference"]["image"], kReference0);
    EXPECT_EQ(doc["reference"]["rule"], "single-reference");
  }
}

// --set reaches any option by its path: here a SIFT setting no flag exists for, seen in the
// result; a wrong path is a one-line error naming it.
TEST_F(CliInspect, SetReachesAnyOptionByItsPath) {
  VIGIL_REQUIRE_FILE(freiburg_ / "reference" / kReference0);
  const fs::path data = dir_ / "data";
  MakeFreiburgSubset(data);
  const CliResult r = Run(InspectArgs(data, dir_ / "out", {"--extractor", "sift", "--segmenter", "graph", "--quiet",
                                                           "--set", "extractor.sift.max_keypoints=300"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(ReadFile(dir_ / "out" / (fs::path(kQuery0).stem().string() + ".json")));
  EXPECT_LE(doc["keypoints"]["query"].get<int>(), 300);
  EXPECT_GT(doc["keypoints"]["query"].get<int>(), 100);
  ExpectError(InspectArgs(data, dir_ / "bad", {"--extractor", "sift", "--set", "extractor.sift.max_kp=3"}), 1,
              "inspect", {"--set", "max_kp", "max_keypoints"});
  EXPECT_FALSE(fs::exists(dir_ / "bad" / "report.html"));
}

}  // namespace
}  // namespace vigil
