// Value types passed between the feature, matching and inspection stages.
//
// Pixel convention (stated once, used everywhere in vigil): keypoint (x, y) is in pixels of the
// image the extractor was given, x to the right, y down, and the centre of the top-left pixel is
// (0, 0) — the convention of OpenCV and of the SuperPoint/SuperGlue/LightGlue/ALIKED reference
// code. A keypoint on pixel (row r, column c) has x = c, y = r.
#pragma once

#include <cstdint>
#include <string>

#include <Eigen/Core>

namespace vigil {

using KeypointMatrix = Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor>;  // N x 2 (x, y)
using DescriptorMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // N x D float
using BinaryDescriptorMatrix =
    Eigen::Matrix<uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // N x bytes (ORB)

// Keypoints, their detection scores and descriptors for one image.
struct Features {
  KeypointMatrix keypoints;                   // N x 2, pixel convention above
  Eigen::VectorXf scores;                     // N detection scores (extractor-specific scale)
  DescriptorMatrix descriptors;               // N x D float descriptors (empty for ORB)
  BinaryDescriptorMatrix binary_descriptors;  // N x B bytes (ORB only, else empty)
  int image_width = 0;                        // size of the image the keypoints refer to
  int image_height = 0;
  std::string extractor;                      // name of the extractor that made them

  int size() const { return static_cast<int>(keypoints.rows()); }
  bool is_binary() const { return binary_descriptors.size() > 0; }
  int descriptor_dim() const {
    return is_binary() ? static_cast<int>(binary_descriptors.cols())
                       : static_cast<int>(descriptors.cols());
  }
};

}  // namespace vigil
