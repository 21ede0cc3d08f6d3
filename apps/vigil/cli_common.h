// Shared CLI plumbing: option groups that several subcommands take, the error-to-exit-code
// wrapper, and Ctrl-C handling through a CancelToken.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vigil/features/extractor.h"
#include "vigil/matching/matcher.h"
#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"
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

// The plugin shorthands given on a command line (util/options_fields.h PluginFlag), in order.
// One flag may set the same field of several plugins (`--sigma`: spade.sigma and
// patchcore.sigma); only the running plugin's assignment is applied.
struct PluginFlagValues {
  struct Given {
    std::string flag;        // "--ratio"
    std::string plugin;      // "nn"
    std::string assignment;  // "nn.ratio=0.8"
  };
  std::vector<Given> given;

  // Applies the shorthands that `plugin` declares to `options` (SetOptionField, naming the
  // flag on a bad value). A shorthand that only other plugins declare throws naming the flag,
  // the plugins it applies to and the running one (`family` words it: "matcher", "method"):
  // it would otherwise be silently unused.
  template <class T>
  void ApplyTo(T* options, const std::string& plugin, const std::string& family) const {
    for (const Given& g : given) {
      if (g.plugin == plugin) SetOptionField(options, g.assignment, g.flag);
    }
    for (const Given& g : given) {
      if (Declares(g.flag, plugin)) continue;
      ThrowError(fmt::format("option {}: applies to the {} {}, not to the {} '{}' that runs",
                             g.flag, PluginsOf(g.flag), family, family, plugin));
    }
  }

 private:
  bool Declares(const std::string& flag, const std::string& plugin) const;
  std::string PluginsOf(const std::string& flag) const;  // "spade|patchcore"
};

// Binds each of `flags` to the command line as `--<name>` (and `-<letter>`), collecting into
// `values`: a boolean field's shorthand is a flag without a value, an array field's takes
// comma-separated values. `defaults` (OptionsToJson of the family's default options) gives
// each field's kind and the default --help shows; `prefix` is the family's path in --help
// ("matcher." for "matcher.nn.ratio").
void AddPluginFlags(CLI::App& app, const std::vector<PluginFlag>& flags,
                    const nlohmann::json& defaults, const std::string& prefix,
                    PluginFlagValues& values);

struct MatcherFlags {
  MatcherOptions options;
  std::string weights;
  std::optional<float> threshold;
  PluginFlagValues shorthands;  // the matchers' own (--ratio, ...)
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
