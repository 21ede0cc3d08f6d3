#include "vigil/segmentation/segmenter.h"

#include <functional>
#include <map>
#include <utility>

#include <fmt/ranges.h>

#include "vigil/segmentation/deeplabv3.h"
#include "vigil/segmentation/graph_segmenter.h"
#include "vigil/segmentation/mask_rcnn.h"
#include "vigil/segmentation/yolov8_seg.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil {
namespace {

using Creator = std::function<std::unique_ptr<Segmenter>(const SegmenterOptions&)>;

// One entry per segmenter: how to create it and how to check its own options.
struct Plugin {
  Creator create;
  void (*check)(const SegmenterOptions&);
};

// The entry of the segmenter whose options are SegmenterOptions::*Member.
template <auto Member>
Plugin Entry(Creator create) {
  return {std::move(create), [](const SegmenterOptions& o) { (o.*Member).Check(); }};
}

// The factory table: one line per segmenter.
const std::map<std::string, Plugin>& Registry() {
  static const std::map<std::string, Plugin> registry = {
      {"yolov8-seg", Entry<&SegmenterOptions::yolov8_seg>(CreateYoloV8Segmenter)},
      {"deeplabv3", Entry<&SegmenterOptions::deeplabv3>(CreateDeepLabV3Segmenter)},
      {"maskrcnn", Entry<&SegmenterOptions::mask_rcnn>(CreateMaskRcnnSegmenter)},
      {"graph", Entry<&SegmenterOptions::graph>(CreateGraphSegmenter)},
  };
  return registry;
}

bool ModelFound(const ModelSpec& spec) {
  try {
    FindModelFile("", spec);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

void SegmenterOptions::Check() const {
  VIGIL_CHECK_OPTION(type == "auto" || Registry().count(type) != 0, "segmenter",
                     fmt::format("unknown segmenter '{}' (known: auto, {})", type,
                                 fmt::join(SegmenterNames(), ", ")));
  // "auto" picks among several models, so one weights file cannot be meant for all of them.
  VIGIL_CHECK_OPTION(type != "auto" || weights.empty(), "segmenter weights",
                     "needs an explicit segmenter type, not 'auto'");
  VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
  VIGIL_CHECK_OPTION(score_threshold >= 0 && score_threshold <= 1, "score_threshold",
                     "must be in [0, 1]");
  VIGIL_CHECK_OPTION(nms_threshold > 0 && nms_threshold <= 1, "nms_threshold",
                     "must be in (0, 1]");
  VIGIL_CHECK_OPTION(min_area_px >= 0, "min_area_px", "must be >= 0 pixels");
  if (type != "auto") Registry().at(type).check(*this);
}

std::vector<std::string> SegmenterNames() {
  std::vector<std::string> names;
  for (const auto& [name, creator] : Registry()) names.push_back(name);
  return names;
}

std::string ResolveSegmenterType(const SegmenterOptions& options) {
  if (options.type != "auto") return options.type;
  // Best masks first; the graph segmenter needs no weights, so vigil always has a segmenter.
  if (ModelFound(YoloV8SegModelSpec())) return "yolov8-seg";
  if (ModelFound(DeepLabV3ModelSpec())) return "deeplabv3";
  return "graph";
}

std::unique_ptr<Segmenter> Segmenter::Create(const SegmenterOptions& options) {
  options.Check();
  SegmenterOptions resolved = options;
  resolved.type = ResolveSegmenterType(options);
  resolved.Check();
  return Registry().at(resolved.type).create(resolved);
}

}  // namespace vigil
