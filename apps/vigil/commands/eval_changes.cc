// vigil eval-changes: scores `vigil inspect` predictions against a change-detection dataset laid
// out like ../shared/data/changes-freiburg (see vigil/eval/change_metrics.h for the metrics).
#include <cmath>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "vigil/eval/change_metrics.h"

namespace vigil::cli {
namespace {

std::string Percent(double value) {
  return std::isfinite(value) ? fmt::format("{:.1f}%", 100 * value) : "n/a";
}

}  // namespace

int RunEvalChanges(int argc, char** argv) {
  CLI::App app("Evaluate change-detection predictions (object, pixel, image level, by change "
               "type, and reference retrieval)",
               "eval-changes");
  std::string dataset, predictions, out;
  eval::ChangeMetricsOptions options;
  app.add_option("--dataset", dataset,
                 "dataset folder: query/, ground_truth/<stem>.png + .json, pairs.csv")
      ->required();
  app.add_option("--predictions", predictions,
                 "vigil inspect output: masks/<query stem>.png and <query stem>.json")
      ->required();
  app.add_option("--out", out, "folder for metrics.json and metrics.md")->required();
  app.add_option("--min-coverage", options.min_coverage,
                 "fraction of a change's pixels that must be predicted for it to be found")
      ->capture_default_str();
  app.add_option("--min-region-on-change", options.min_region_on_change,
                 "fraction of a predicted region that must lie on a change for it to be true")
      ->capture_default_str();
  app.add_option("--min-region-px", options.min_region_px,
                 "predicted regions smaller than this many pixels are ignored")
      ->capture_default_str();
  return RunCommand(app, argc, argv, [&] {
    options.Check();
    const eval::ChangeEvaluation e = eval::EvaluateChangeDataset(dataset, predictions, options);
    eval::WriteChangeMetrics(e, out);
    auto line = [](const std::string& name, const eval::ChangeScores& s) {
      std::printf("%-12s precision %-6s recall %-6s F1 %-6s pixel IoU %-6s image acc %-6s (%d/%d "
                  "changes found, %d/%d regions true)\n",
                  name.c_str(), Percent(s.precision).c_str(), Percent(s.recall).c_str(),
                  Percent(s.f1).c_str(), Percent(s.pixel_iou).c_str(),
                  Percent(s.image_accuracy).c_str(), s.counts.changes_found, s.counts.changes,
                  s.counts.regions_true, s.counts.regions);
    };
    line("overall", e.overall);
    for (const auto& [type, scores] : e.by_type) line(type, scores);
    std::printf("retrieval    %s (%d/%d vs pairs.csv)\n", Percent(e.retrieval_accuracy).c_str(),
                e.retrieval_correct, e.retrieval_total);
    if (!e.missing_masks.empty()) {
      std::fprintf(stderr, "vigil eval-changes: warning: %zu queries had no predicted mask and "
                   "count as nothing predicted (listed in metrics.json)\n",
                   e.missing_masks.size());
    }
    std::printf("wrote %s/metrics.json and metrics.md\n", out.c_str());
  });
}

}  // namespace vigil::cli
