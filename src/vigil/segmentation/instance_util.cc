#include "vigil/segmentation/instance_util.h"

#include <algorithm>
#include <fstream>

#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::segmentation_internal {
namespace fs = std::filesystem;

std::vector<std::string> ReadLabelFile(const fs::path& path, bool blank_ends_list) {
  std::ifstream in(path);
  VIGIL_CHECK(in.good(), "{}: cannot read label file", path.string());
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() && labels.empty()) continue;
    if (line.empty() && blank_ends_list) break;
    labels.push_back(line);
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  VIGIL_CHECK(!labels.empty(), "{}: label file holds no labels", path.string());
  return labels;
}

fs::path LabelPathFor(const std::string& explicit_path, const fs::path& weights,
                      const std::string& default_name) {
  if (!explicit_path.empty()) return explicit_path;
  return weights.parent_path() / default_name;
}

cv::dnn::Net LoadNet(const fs::path& model, const fs::path& config,
                     const std::vector<std::string>& expected_outputs, const std::string& what) {
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNet(model.string(), config.string());
  } catch (const cv::Exception& e) {
    ThrowError(fmt::format("{}: cannot load as {}: {}", model.string(), what, e.msg));
  }
  VIGIL_CHECK(!net.empty(), "{}: cannot load as {} (empty network)", model.string(), what);
  const std::vector<std::string> outputs = net.getUnconnectedOutLayersNames();
  for (const std::string& name : expected_outputs) {
    const bool found = std::find(outputs.begin(), outputs.end(), name) != outputs.end() ||
                       net.getLayerId(name) >= 0;
    VIGIL_CHECK(found,
                "{}: not {}: output '{}' missing (outputs: {})", model.string(), what, name,
                fmt::join(outputs, ", "));
  }
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return net;
}

ScopedCvThreads::ScopedCvThreads(int num_threads) : previous_(cv::getNumThreads()) {
  SetCvThreads(num_threads);
}

ScopedCvThreads::~ScopedCvThreads() { SetCvThreads(previous_); }

cv::Mat ToBgr(const cv::Mat& image, const std::string& segmenter) {
  return io::ToBgr(image, segmenter);
}

void FilterAndSort(std::vector<Instance>* instances, int min_area_px) {
  std::vector<std::pair<int, Instance>> kept;
  for (Instance& instance : *instances) {
    const int area = cv::countNonZero(instance.mask);
    if (area >= std::max(1, min_area_px)) kept.emplace_back(area, std::move(instance));
  }
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    if (a.second.score != b.second.score) return a.second.score > b.second.score;
    return a.first > b.first;
  });
  instances->clear();
  for (auto& [area, instance] : kept) instances->push_back(std::move(instance));
}

}  // namespace vigil::segmentation_internal
