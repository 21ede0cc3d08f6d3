// vigil: reference-based visual anomaly and change detection.
// A table of subcommands (COLMAP exe/colmap.cc style); each lives in commands/<name>.cc.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"inspect", vigil::cli::RunInspect,
       "detect new/missing/changed objects in a query run against a reference run"},
      {"calibrate", vigil::cli::RunCalibrate,
       "self-calibrate the matcher threshold (coefficient of variation + Kneedle)"},
      {"eval-changes", vigil::cli::RunEvalChanges,
       "score inspect predictions against ground-truth change masks"},
      {"features", vigil::cli::RunFeatures, "extract keypoints and descriptors from images"},
      {"match", vigil::cli::RunMatch, "match keypoints between two images (or a list of pairs)"},
      {"spade", vigil::cli::RunSpade,
       "sub-image anomaly detection (SPADE / PatchCore): fit | score | eval"},
      {"map", vigil::cli::RunMap,
       "the reference map file (features, descriptors, gray images of a run): build | add | info"},
#ifdef VIGIL_HAVE_ROS
      {"bag-extract", vigil::cli::RunBagExtract, "turn a ROS 1 bag (images + poses) into a run folder"},
#endif
  };
  return commands;
}

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "vigil - reference-based visual anomaly and change detection\n\n"
               "Usage: vigil <command> [options]   (vigil <command> --help for details)\n\n"
               "Commands:\n");
  for (const Command& command : Commands()) {
    std::fprintf(out, "  %-13s %s\n", command.name, command.summary);
  }
  std::fprintf(out,
               "\nModel weights are searched in: --weights, $VIGIL_MODELS, ./models, "
               "../shared/models.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("vigil %s\n", VIGIL_VERSION);
    return 0;
  }
  for (const Command& command : Commands()) {
    if (argv[1] == std::string(command.name)) return command.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "vigil: unknown command '%s' (see vigil --help)\n", argv[1]);
  return 2;
}
