#include "vigil/map/map_builder.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/map/map_store.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

extern char** environ;

namespace vigil::map {
namespace {
namespace fs = std::filesystem;

fs::path FreiburgDir() { return testing::DataDir() / "changes-freiburg"; }

// A cheap, weight-free extractor keeps the builds well under a second.
MapBuildOptions OrbOptions(int max_keypoints = 500) {
  MapBuildOptions options;
  options.extractor.type = "orb";
  options.extractor.orb.max_keypoints = max_keypoints;
  options.deep_features = "no";  // its own test below: a backbone run per frame
  return options;
}

template <class M>
bool SameMatrix(const M& a, const M& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(*a.data())) == 0);
}

bool SameFeatures(const Features& a, const Features& b) {
  return a.extractor == b.extractor && a.image_width == b.image_width &&
         a.image_height == b.image_height && SameMatrix(a.keypoints, b.keypoints) &&
         SameMatrix(a.scores, b.scores) && SameMatrix(a.descriptors, b.descriptors) &&
         SameMatrix(a.binary_descriptors, b.binary_descriptors);
}

// Every stored value of two maps, frame by frame ("" when equal, else the first difference).
std::string MapDifference(const fs::path& a_path, const fs::path& b_path) {
  const MapStore a = MapStore::OpenReadOnly(a_path);
  const MapStore b = MapStore::OpenReadOnly(b_path);
  if (!IdentityDifferences(a.build_identity(), b.build_identity()).empty()) return "identity";
  const std::vector<MapFrameRecord> fa = a.Frames(), fb = b.Frames();
  if (fa.size() != fb.size()) return fmt::format("{} vs {} frames", fa.size(), fb.size());
  for (size_t i = 0; i < fa.size(); ++i) {
    const int k = static_cast<int>(i);
    if (fa[i].index != fb[i].index || fa[i].frame.image != fb[i].frame.image ||
        fa[i].width != fb[i].width || fa[i].height != fb[i].height ||
        fa[i].frame.timestamp != fb[i].frame.timestamp ||
        fa[i].frame.pose.has_value() != fb[i].frame.pose.has_value()) {
      return fmt::format("frame {} record", i);
    }
    if (fa[i].frame.pose &&
        (fa[i].frame.pose->position != fb[i].frame.pose->position ||
         fa[i].frame.pose->orientation.coeffs() != fb[i].frame.pose->orientation.coeffs())) {
      return fmt::format("frame {} pose", i);
    }
    if (!SameFeatures(a.LoadFeatures(k), b.LoadFeatures(k)))
      return fmt::format("frame {} features", i);
    if (a.LoadGlobalDescriptor(k) != b.LoadGlobalDescriptor(k))
      return fmt::format("frame {} global", i);
    if (cv::norm(a.LoadGray(k), b.LoadGray(k), cv::NORM_INF) != 0)
      return fmt::format("frame {} gray", i);
    if (a.DeepFeatureKeys() != b.DeepFeatureKeys()) return "deep feature keys";
    for (const std::string& key : a.DeepFeatureKeys()) {
      const auto da = a.LoadDeepFeatures(k, key), db = b.LoadDeepFeatures(k, key);
      if (da.has_value() != db.has_value()) return fmt::format("frame {} deep presence", i);
      if (!da) continue;
      for (size_t t = 0; t < da->maps.size(); ++t) {
        if (t >= db->maps.size() || da->maps[t].data != db->maps[t].data || da->taps != db->taps)
          return fmt::format("frame {} deep tap {}", i, t);
      }
    }
  }
  return "";
}

TEST(MapBuilder, StoresWhatTheStagesComputeFromTheImages) {
  const fs::path run_dir = FreiburgDir() / "reference";
  VIGIL_REQUIRE_FILE(run_dir);
  const fs::path path = testing::MakeTempDir("map_build") / "site.vmap";
  MapBuildOptions options;
  options.extractor.type = "sift";  // float descriptors (ORB's binary ones are in the kill test)
  options.extractor.sift.max_keypoints = 300;
  size_t last_done = 0, last_total = 0;
  const MapBuildSummary summary =
      BuildMap(run_dir, path, options, nullptr, [&](size_t done, size_t total) {
        EXPECT_EQ(done, last_done + 1);
        last_done = done;
        last_total = total;
      });
  const retrieval::Run run = retrieval::LoadRun(run_dir, options.reference_run);
  ASSERT_GT(run.frames.size(), 2u);
  EXPECT_EQ(summary.frames_in_run, static_cast<int>(run.frames.size()));
  EXPECT_EQ(summary.frames_added, summary.frames_in_run);
  EXPECT_EQ(summary.frames_resumed, 0);
  EXPECT_TRUE(summary.skipped.empty());
  EXPECT_EQ(last_total, run.frames.size());

  // Independent expectation: the stages run directly on the decoded images.
  std::unique_ptr<FeatureExtractor> extractor = FeatureExtractor::Create(options.extractor);
  retrieval::AppearanceDescriber describer(options.selection, /*allow_fallback=*/false);
  const MapStore store = MapStore::OpenReadOnly(path);
  EXPECT_EQ(store.build_identity(), MapBuildIdentity(options, *extractor));
  EXPECT_EQ(store.build_identity()["extractor"], "sift");
  EXPECT_FALSE(store.build_identity()["options"]["extractor"].contains("superpoint"));
  const std::vector<MapFrameRecord> frames = store.Frames();
  ASSERT_EQ(frames.size(), run.frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(run.frames[i].image.string());
    const int k = static_cast<int>(i);
    const cv::Mat image = io::ReadImage(run.frames[i].image);
    EXPECT_EQ(frames[i].index, k);
    EXPECT_EQ(frames[i].frame.image, run.frames[i].image.filename());
    EXPECT_EQ(frames[i].width, image.cols);
    EXPECT_EQ(frames[i].height, image.rows);
    ASSERT_TRUE(frames[i].frame.pose.has_value());
    ASSERT_TRUE(run.frames[i].pose.has_value());
    EXPECT_EQ(frames[i].frame.pose->position, run.frames[i].pose->position);
    EXPECT_EQ(frames[i].frame.pose->orientation.coeffs(), run.frames[i].pose->orientation.coeffs());
    EXPECT_EQ(frames[i].frame.timestamp, run.frames[i].timestamp);
    EXPECT_TRUE(SameFeatures(store.LoadFeatures(k), extractor->Extract(image)));
    EXPECT_EQ(store.LoadGlobalDescriptor(k), describer.Describe(image));
    cv::Mat gray;
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(cv::norm(store.LoadGray(k), gray, cv::NORM_INF), 0);
  }
  // The run as reference selection sees it, without reading the run folder.
  const retrieval::Run from_map = store.ReferenceRun();
  EXPECT_EQ(from_map.pose_source, run.pose_source);
  ASSERT_EQ(from_map.frames.size(), run.frames.size());
  for (size_t i = 0; i < run.frames.size(); ++i) {
    EXPECT_TRUE(fs::equivalent(from_map.frames[i].image, run.frames[i].image));
    EXPECT_EQ(from_map.frames[i].pose->position, run.frames[i].pose->position);
  }
}

TEST(MapBuilder, CancelledBuildResumesToTheSameMap) {
  const fs::path run_dir = FreiburgDir() / "reference";
  VIGIL_REQUIRE_FILE(run_dir);
  const fs::path dir = testing::MakeTempDir("map_resume");
  BuildMap(run_dir, dir / "whole.vmap", OrbOptions());
  CancelToken cancel;
  EXPECT_THROW(BuildMap(run_dir, dir / "resumed.vmap", OrbOptions(), &cancel,
                        [&](size_t done, size_t) {
                          if (done == 3) cancel.Cancel();
                        }),
               Cancelled);
  EXPECT_EQ(MapStore::OpenReadOnly(dir / "resumed.vmap").NumFrames(), 3);
  const MapBuildSummary summary = BuildMap(run_dir, dir / "resumed.vmap", OrbOptions());
  EXPECT_EQ(summary.frames_resumed, 3);
  EXPECT_EQ(summary.frames_added, summary.frames_in_run - 3);
  EXPECT_EQ(MapDifference(dir / "whole.vmap", dir / "resumed.vmap"), "");
}

// The dense stage's deep features are stored per frame under the key of what computed them,
// equal to computing them from the stored gray image as an inspection does; a map built without
// them gains them on a later build (the same map as one built with them at once), and "yes"
// without the model is an error while "auto" says why it stored none.
TEST(MapBuilder, StoresDeepFeaturesAsTheInspectionComputesThem) {
  const fs::path run_dir = FreiburgDir() / "reference";
  const fs::path model = testing::ModelsDir() / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
  VIGIL_REQUIRE_FILE(run_dir);
  VIGIL_REQUIRE_FILE(model);
  const fs::path dir = testing::MakeTempDir("map_deep");
  MapBuildOptions with = OrbOptions();
  with.deep_features = "yes";
  with.dense_deep_model = model.string();
  const MapBuildSummary whole = BuildMap(run_dir, dir / "whole.vmap", with);
  EXPECT_EQ(whole.deep_features_added, whole.frames_in_run);

  BuildMap(run_dir, dir / "later.vmap", OrbOptions());
  EXPECT_EQ(MapStore::OpenReadOnly(dir / "later.vmap").Stats().num_deep_feature_frames, 0);
  const MapBuildSummary later = BuildMap(run_dir, dir / "later.vmap", with);
  EXPECT_EQ(later.frames_resumed, later.frames_in_run);
  EXPECT_EQ(later.deep_features_added, later.frames_in_run);
  EXPECT_EQ(MapDifference(dir / "whole.vmap", dir / "later.vmap"), "");

  dense::DeepFeatureComputer computer(model.string(), with.dense_deep, 1);
  const MapStore store = MapStore::OpenReadOnly(dir / "whole.vmap");
  EXPECT_EQ(store.DeepFeatureKeys(), std::vector<std::string>{computer.Key()});
  const std::optional<dense::DeepFeatures> stored = store.LoadDeepFeatures(4, computer.Key());
  ASSERT_TRUE(stored.has_value());
  const dense::DeepFeatures direct = computer(store.LoadGray(4));
  EXPECT_EQ(stored->taps, direct.taps);
  ASSERT_EQ(stored->maps.size(), direct.maps.size());
  for (size_t t = 0; t < direct.maps.size(); ++t) EXPECT_EQ(stored->maps[t].data, direct.maps[t].data);

  MapBuildOptions missing = with;
  missing.dense_deep_model = (dir / "none.onnx").string();
  EXPECT_NE(testing::ErrorOf([&] { BuildMap(run_dir, dir / "x.vmap", missing); }).find("none.onnx"),
            std::string::npos);
  missing.deep_features = "auto";
  const MapBuildSummary without = BuildMap(run_dir, dir / "y.vmap", missing);
  EXPECT_EQ(without.deep_features_added, 0);
  EXPECT_NE(without.deep_features_note.find("none.onnx"), std::string::npos) << without.deep_features_note;
}

TEST(MapBuilder, AnotherConfigurationNamesTheDifferingOption) {
  const fs::path run_dir = FreiburgDir() / "reference";
  VIGIL_REQUIRE_FILE(run_dir);
  const fs::path path = testing::MakeTempDir("map_mismatch") / "site.vmap";
  BuildMap(run_dir, path, OrbOptions(500));
  MapBuildOptions same = OrbOptions(500);
  same.extractor.num_threads = 1;          // does not change the content: still the same map
  same.extractor.sift.max_keypoints = 10;  // another extractor's option: irrelevant
  EXPECT_EQ(BuildMap(run_dir, path, same).frames_resumed, 9);
  const std::string error = testing::ErrorOf([&] { BuildMap(run_dir, path, OrbOptions(600)); });
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("options.extractor.orb.max_keypoints: 500 vs 600"), std::string::npos)
      << error;
}

TEST(MapBuilder, AddedRunContinuesTheNumberingAndClashingNamesAreRefused) {
  const fs::path reference = FreiburgDir() / "reference";
  const fs::path query = FreiburgDir() / "query";
  VIGIL_REQUIRE_FILE(query);
  const fs::path dir = testing::MakeTempDir("map_add");
  const fs::path path = dir / "site.vmap";
  const MapBuildSummary built = BuildMap(reference, path, OrbOptions());
  // Building from another run into the same map is refused: that is what add is for.
  std::string error = testing::ErrorOf([&] { BuildMap(query, path, OrbOptions()); });
  EXPECT_NE(error.find("vigil map add"), std::string::npos) << error;
  // add takes the map's own options.
  const MapBuildOptions options =
      MapBuildOptionsFromIdentity(MapStore::OpenReadOnly(path).build_identity());
  EXPECT_EQ(options.extractor.type, "orb");
  EXPECT_EQ(options.extractor.orb.max_keypoints, 500);
  const MapBuildSummary added = AddRunToMap(query, path, options);
  EXPECT_EQ(added.run_index, 1);
  EXPECT_EQ(added.frames_in_map, built.frames_in_run + added.frames_in_run);
  {
    const MapStore store = MapStore::OpenReadOnly(path);
    const std::vector<MapFrameRecord> frames = store.Frames();
    ASSERT_EQ(static_cast<int>(frames.size()), added.frames_in_map);
    EXPECT_EQ(frames[built.frames_in_run].run, 1);
    EXPECT_EQ(frames[built.frames_in_run].index, built.frames_in_run);
    EXPECT_EQ(store.Stats().num_runs, 2);
  }
  // Adding the same run again resumes (nothing new).
  EXPECT_EQ(AddRunToMap(query, path, options).frames_added, 0);
  // A third run with a file name the map has from the reference run.
  const fs::path clash = dir / "clash";
  fs::create_directories(clash);
  const std::string name = retrieval::LoadRun(reference).frames[2].image.filename().string();
  fs::copy_file(reference / name, clash / name);
  error = testing::ErrorOf([&] { AddRunToMap(clash, path, options); });
  EXPECT_NE(error.find(name), std::string::npos) << error;
  EXPECT_EQ(MapStore::OpenReadOnly(path).NumFrames(), added.frames_in_map);
  // add needs an existing map.
  error = testing::ErrorOf([&] { AddRunToMap(query, dir / "none.vmap", options); });
  EXPECT_NE(error.find("none.vmap"), std::string::npos) << error;
}

TEST(MapBuilder, UnreadableFramesAreSkippedWithTheirReasonUnlessStrict) {
  const fs::path reference = FreiburgDir() / "reference";
  VIGIL_REQUIRE_FILE(reference);
  const fs::path dir = testing::MakeTempDir("map_skip");
  const fs::path run = dir / "run";
  fs::create_directories(run);
  const retrieval::Run source = retrieval::LoadRun(reference, {});
  for (int i = 0; i < 3; ++i) {
    fs::copy_file(source.frames[i].image, run / source.frames[i].image.filename());
  }
  std::ofstream(run / "s0_1341847999.000000.png") << "not a png";
  const MapBuildSummary summary = BuildMap(run, dir / "site.vmap", OrbOptions());
  EXPECT_EQ(summary.frames_added, 3);
  ASSERT_EQ(summary.skipped.size(), 1u);
  EXPECT_NE(summary.skipped[0].reason.find("s0_1341847999.000000.png"), std::string::npos);
  MapBuildOptions strict = OrbOptions();
  strict.strict = true;
  const std::string error = testing::ErrorOf([&] { BuildMap(run, dir / "strict.vmap", strict); });
  EXPECT_NE(error.find("s0_1341847999.000000.png"), std::string::npos) << error;
  // A bad calibration file fails before any work.
  MapBuildOptions bad_calibration = OrbOptions();
  bad_calibration.calibration_file = run / "s0_1341847999.000000.png";
  EXPECT_NE(
      testing::ErrorOf([&] { BuildMap(run, dir / "c.vmap", bad_calibration); }).find("calibration"),
      std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "c.vmap"));
}

// The child of the SIGKILL test: builds the map named in the environment, then exits. Skipped
// in a normal test run (the variables are only set for the child).
TEST(MapBuilderChild, BuildFromEnvironment) {
  const char* run = std::getenv("VIGIL_MAP_CHILD_RUN");
  const char* out = std::getenv("VIGIL_MAP_CHILD_OUT");
  if (!run || !out)
    GTEST_SKIP() << "only run as the child of MapBuilder.SurvivesSigkillAtAnyMoment";
  BuildMap(run, out, OrbOptions());
}

// Runs the child test in a fresh process (fork + exec of this test binary, so that no thread
// state of the parent is inherited) building `out`; returns its pid.
pid_t StartChildBuild(const fs::path& run, const fs::path& out) {
  static const std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> env_strings = {"VIGIL_MAP_CHILD_RUN=" + run.string(),
                                          "VIGIL_MAP_CHILD_OUT=" + out.string()};
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=MapBuilderChild.BuildFromEnvironment";
  std::string exe_arg = exe;
  char* argv[] = {exe_arg.data(), filter.data(), nullptr};
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execve(exe.c_str(), argv, envp.data());
    _exit(127);
  }
  return pid;
}

// Waits until `path` exists or the child `pid` has exited; true when the file is there.
bool WaitForFile(const fs::path& path, pid_t pid) {
  for (int i = 0; i < 20000; ++i) {  // at most ~20 s
    if (fs::exists(path)) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return fs::exists(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(MapBuilder, SurvivesSigkillAtAnyMoment) {
  const fs::path run = FreiburgDir() / "reference";  // 9 frames, 9 commits to land between
  VIGIL_REQUIRE_FILE(run);
  const fs::path dir = testing::MakeTempDir("map_kill");
  BuildMap(run, dir / "whole.vmap", OrbOptions());

  // How long one uninterrupted child writes its map (from the file's creation to its exit):
  // the kills are spread over that span, not over the process start before it.
  const pid_t timing = StartChildBuild(run, dir / "timing.vmap");
  ASSERT_TRUE(WaitForFile(dir / "timing.vmap", timing));
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  ASSERT_EQ(waitpid(timing, &status, 0), timing);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child build failed: " << status;
  const double duration =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(MapDifference(dir / "whole.vmap", dir / "timing.vmap"), "");

  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  SCOPED_TRACE(fmt::format("seed {}, one build writes for {:.3f} s", seed, duration));
  std::mt19937 rng(seed);
  constexpr int kKills = 20;
  int partial = 0;
  for (int i = 0; i < kKills; ++i) {
    // Delay i lies in the i-th twentieth of the build, at a random place inside it.
    const double delay =
        duration * (i + std::uniform_real_distribution<double>(0, 1)(rng)) / kKills;
    const fs::path path = dir / fmt::format("killed_{}.vmap", i);
    const pid_t pid = StartChildBuild(run, path);
    const bool created = WaitForFile(path, pid);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    kill(pid, SIGKILL);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(created) << "the child made no map";
    SCOPED_TRACE(fmt::format("kill {} after {:.3f} s", i, delay));
    int frames = 0;
    const std::string error = testing::ErrorOf([&] {
      const MapStore store = MapStore::OpenReadOnly(path);  // quick_check on open
      EXPECT_EQ(store.IntegrityCheck(), "ok");
      frames = store.NumFrames();
      partial += frames > 0 && frames < 9;
      throw Error("opened");
    });
    // Killed before its first commit: the file is refused as empty, and the build starts over.
    if (error != "opened") {
      EXPECT_NE(error.find("an empty map file"), std::string::npos) << error;
    }
    const MapBuildSummary resumed = BuildMap(run, path, OrbOptions());
    EXPECT_EQ(resumed.frames_resumed, frames);
    EXPECT_EQ(MapDifference(dir / "whole.vmap", path), "");
  }
  // The kills must have landed inside builds, not only before or after them (how many do
  // depends on the machine's load: the spread is over one earlier build's duration).
  std::printf("one build writes for %.3f s; %d of %d kills left a partial map\n", duration, partial,
              kKills);
  EXPECT_GE(partial, 3);
}

}  // namespace
}  // namespace vigil::map
