#include "cli_common.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <sstream>

#include <fmt/ranges.h>
#include <opencv2/core.hpp>

#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil::cli {
namespace {

// The one piece of process-wide state in vigil: a signal handler can only reach a global.
// It lives in the CLI, never in the library, which receives the token as a parameter.
CancelToken g_interrupt;

extern "C" void OnInterrupt(int) { g_interrupt.Cancel(); }

}  // namespace

CancelToken& InterruptToken() { return g_interrupt; }

std::pair<int, int> ParseSize(const std::string& text, const std::string& option) {
  if (text.empty()) return {0, 0};
  int width = 0, height = 0;
  char separator = 0;
  std::istringstream in(text);
  in >> width >> separator >> height;
  VIGIL_CHECK(in && !in.rdbuf()->in_avail() && (separator == 'x' || separator == 'X') &&
                  width > 0 && height > 0,
              "option {}: expected WxH with positive integers, got '{}'", option, text);
  return {width, height};
}

FeatureExtractorOptions ExtractorFlags::Resolve() const {
  FeatureExtractorOptions resolved = options;
  SharedExtractorSettings shared;  // each extractor maps these onto its own options
  shared.weights = weights;
  shared.max_keypoints = max_keypoints;
  shared.keypoint_threshold = keypoint_threshold;
  shared.nms_radius = nms_radius;
  shared.max_keypoints_option = "--max-keypoints";
  resolved.ApplyShared(shared);
  return resolved;
}

void AddExtractorOptions(CLI::App& app, ExtractorFlags& flags) {
  app.add_option("--extractor", flags.options.type,
                 fmt::format("keypoint extractor: {}", fmt::join(FeatureExtractorNames(), "|")))
      ->capture_default_str();
  app.add_option("--weights", flags.weights,
                 "extractor weights file (default: search $VIGIL_MODELS, ./models, "
                 "../shared/models)");
  app.add_option("--max-keypoints", flags.max_keypoints,
                 "keep the best N keypoints (SuperPoint: -1 = all; ALIKED: top-k mode)");
  app.add_option("--keypoint-threshold", flags.keypoint_threshold,
                 "detector score threshold (SuperPoint default 0.005, ALIKED 0.2)");
  app.add_option("--nms-radius", flags.nms_radius, "non-maximum suppression radius in pixels");
  app.add_option("--threads", flags.options.num_threads, "CPU threads for inference")
      ->capture_default_str();
}

namespace {

// A field's default for --help: floats as people write them (0.95, not 0.949999988079071).
std::string DefaultText(const nlohmann::json& defaults, const std::string& path) {
  const nlohmann::json& v = defaults.at(FieldPointer(path));
  return v.is_number_float() ? fmt::format("{:g}", v.get<double>()) : v.dump();
}

}  // namespace

bool PluginFlagValues::Declares(const std::string& flag, const std::string& plugin) const {
  for (const Given& g : given) {
    if (g.flag == flag && g.plugin == plugin) return true;
  }
  return false;
}

std::string PluginFlagValues::PluginsOf(const std::string& flag) const {
  std::vector<std::string> plugins;
  for (const Given& g : given) {
    if (g.flag == flag && std::find(plugins.begin(), plugins.end(), g.plugin) == plugins.end()) {
      plugins.push_back(g.plugin);
    }
  }
  return fmt::format("{}", fmt::join(plugins, "|"));
}

void AddPluginFlags(CLI::App& app, const std::vector<PluginFlag>& flags,
                    const nlohmann::json& defaults, const std::string& prefix,
                    PluginFlagValues& values) {
  // Group by name, keeping the declaration order: one command-line option per name.
  std::vector<std::vector<PluginFlag>> groups;
  for (const PluginFlag& f : flags) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.front().name == f.name; });
    if (it == groups.end()) {
      groups.push_back({f});
    } else {
      it->push_back(f);
    }
  }
  for (const std::vector<PluginFlag>& group : groups) {
    const PluginFlag& first = group.front();
    const std::string flag = "--" + first.name;
    const std::string names = first.letter ? fmt::format("-{},{}", first.letter, flag) : flag;
    std::vector<std::string> fields;
    for (const PluginFlag& f : group) fields.push_back(prefix + f.path);
    const nlohmann::json& kind = defaults.at(FieldPointer(first.path));
    const std::string help = fmt::format("{} (the field {}; default {})", first.help,
                                         fmt::join(fields, ", "), DefaultText(defaults, first.path));
    auto push = [&values, group, flag](const std::string& value) {
      for (const PluginFlag& f : group) values.given.push_back({flag, f.plugin, f.path + "=" + value});
    };
    if (kind.is_boolean()) {
      app.add_flag_callback(names, [push] { push("true"); }, help);
    } else if (kind.is_array()) {
      app.add_option_function<std::string>(
          names, [push](const std::string& value) { push("[" + value + "]"); },
          help + "; comma-separated");
    } else {
      app.add_option_function<std::string>(names, push, help);
    }
  }
}

MatcherOptions MatcherFlags::Resolve() const {
  MatcherOptions resolved = options;
  resolved.superglue.weights = weights;
  resolved.lightglue.weights = weights;
  shorthands.ApplyTo(&resolved, resolved.type, "matcher");
  if (threshold) resolved.set_threshold(*threshold);
  return resolved;
}

void AddMatcherOptions(CLI::App& app, MatcherFlags& flags) {
  app.add_option("--matcher", flags.options.type,
                 fmt::format("matcher: {}", fmt::join(MatcherNames(), "|")))
      ->capture_default_str();
  app.add_option("--matcher-weights", flags.weights,
                 "SuperGlue/LightGlue weights file (default: weights search path)");
  app.add_option("--threshold", flags.threshold,
                 "match confidence threshold in [0, 1) (nn default 0, SuperGlue 0.2, LightGlue 0.1)");
  // Each matcher's shorthands, as its options header declares them.
  AddPluginFlags(app, MatcherPluginFlags(), OptionsToJson(MatcherOptions()), "matcher.",
                 flags.shorthands);
}

int RunCommand(CLI::App& app, int argc, char** argv, const std::function<void()>& body) {
  return RunCommandWithStatus(app, argc, argv, [&] {
    body();
    return 0;
  });
}

int RunCommandWithStatus(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A usage error: one line like every other error (CLI11's default adds a second line and
    // exits with its own code, 105 and so on), exit code 2 as for getopt-style tools.
    std::fprintf(stderr, "vigil %s: error: %s (see --help)\n", app.get_name().c_str(), e.what());
    return 2;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  const std::string prefix = "vigil " + app.get_name();
  try {
    return body();
  } catch (const Cancelled&) {
    std::fprintf(stderr, "%s: interrupted; completed outputs were kept, nothing half-written\n",
                 prefix.c_str());
    return 130;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", prefix.c_str(), e.what());
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "%s: error: OpenCV: %s\n", prefix.c_str(), e.err.c_str());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory; lower --max-pixels (or resize the images) "
                 "or use a machine with more memory\n", prefix.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", prefix.c_str(), e.what());
  }
  return 1;
}

}  // namespace vigil::cli
