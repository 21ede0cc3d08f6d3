// Helpers shared by the segmenters (not part of the public interface): label files, loading an
// OpenCV DNN net with clear errors, a scoped OpenCV thread count, and instance bookkeeping.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "vigil/segmentation/segmenter.h"

namespace vigil::segmentation_internal {

// One label per line. With blank_ends_list, the first blank line after the labels ends the
// list (pascal_voc_segmentation_labels.txt has a prose note after one); otherwise a blank line
// is an unused id and reads as "" (OpenCV's COCO-90 class file has such gaps). Trailing blank
// lines are dropped. Throws vigil::Error naming the file when unreadable or without labels.
std::vector<std::string> ReadLabelFile(const std::filesystem::path& path,
                                       bool blank_ends_list = true);

// The label file `explicit_path`, or `default_name` beside `weights` when it is empty.
std::filesystem::path LabelPathFor(const std::string& explicit_path,
                                   const std::filesystem::path& weights,
                                   const std::string& default_name);

// Reads a net with cv::dnn::readNet and checks that it has layers (or outputs) named
// `expected_outputs`, so that a wrong model fails here with a message naming the file and what
// was expected (`what`, e.g. "a YOLOv8-seg ONNX export"), not later inside a forward pass.
cv::dnn::Net LoadNet(const std::filesystem::path& model, const std::filesystem::path& config,
                     const std::vector<std::string>& expected_outputs, const std::string& what);

// OpenCV's thread count is process-wide; the segmenters set it from their options only for the
// duration of a call and restore the caller's value afterwards.
class ScopedCvThreads {
 public:
  explicit ScopedCvThreads(int num_threads);
  ~ScopedCvThreads();
  ScopedCvThreads(const ScopedCvThreads&) = delete;
  ScopedCvThreads& operator=(const ScopedCvThreads&) = delete;

 private:
  int previous_;
};

// Converts an 8-bit 1/3/4-channel image to 3-channel BGR; throws on empty or other depths.
cv::Mat ToBgr(const cv::Mat& image, const std::string& segmenter);

// Drops instances whose mask has fewer than `min_area_px` pixels and sorts by descending score
// (ties: larger area first, so the order is deterministic).
void FilterAndSort(std::vector<Instance>* instances, int min_area_px);

}  // namespace vigil::segmentation_internal
