// Shared CLI plumbing: option groups that several subcommands take, the error-to-exit-code
// wrapper, and Ctrl-C handling through a CancelToken.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "vigil/features/extractor.h"
#include "vigil/matching/matcher.h"
#include "vigil/util/progress.h"

namespace vigil::cli {

// The extractor flags every subcommand shares. Generic flags (--max-keypoints, ...) are mapped
// onto the chosen extractor's own options by Resolve(), so each keeps its reference defaults
// unless the user overrides them.
struct ExtractorFlags {
  FeatureExtractorOptions options;
  std::string weights;
  std::optional<int> max_keypoints;
  std::optional<float> keypoint_threshold;
  std::optional<int> nms_radius;
  FeatureExtractorOptions Resolve() const;
};
// --extractor, --weights, --max-keypoints, --keypoint-threshold, --nms-radius, --threads.
void AddExtractorOptions(CLI::App& app, ExtractorFlags& flags);

struct MatcherFlags {
  MatcherOptions options;
  std::string weights;
  std::optional<float> threshold;
  // From the matchers' own shorthands, in command-line order: {"--ratio", "nn.ratio=0.8"}.
  std::vector<std::pair<std::string, std::string>> assignments;
  MatcherOptions Resolve() const;
};
// --matcher, --matcher-weights, --threshold, and each matcher's declared shorthands
// (MatcherPluginFlags: --ratio, --sinkhorn-iterations, ...).
void AddMatcherOptions(CLI::App& app, MatcherFlags& flags);

// Parses "WxH" (e.g. "640x480"); empty gives {0, 0} (= keep size). Throws naming `option`.
std::pair<int, int> ParseSize(const std::string& text, const std::string& option);

// The CancelToken that SIGINT/SIGTERM set while a command runs (installed once per process).
CancelToken& InterruptToken();

// Parses argv with `app`, then runs body(); turns vigil::Error, cv::Exception and
// std::exception into one line "vigil <command>: <message>" on stderr and exit code 1;
// a usage error (bad or missing option) gives one such line and exit code 2, --help exit code
// 0; an interrupt gives exit code 130. Returns the exit code.
int RunCommand(CLI::App& app, int argc, char** argv, const std::function<void()>& body);
// The same for a body that returns the exit code (e.g. kExitSkippedFrames).
int RunCommandWithStatus(CLI::App& app, int argc, char** argv, const std::function<int()>& body);
// Exit code of a run that completed but skipped unreadable or oversized frames (README).
constexpr int kExitSkippedFrames = 3;

}  // namespace vigil::cli
