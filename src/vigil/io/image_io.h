// Image reading and writing with errors that name the file, and atomic writes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vigil::io {

enum class ImageMode { kColor, kGray, kUnchanged };

// Reads an image; throws vigil::Error "<path>: cannot read image (missing file)" /
// "(not a decodable image)" instead of returning an empty Mat.
cv::Mat ReadImage(const std::filesystem::path& path, ImageMode mode = ImageMode::kColor);

// Writes an image (format from the extension) atomically: temporary name, then rename.
void WriteImage(const std::filesystem::path& path, const cv::Mat& image);

// The image files of a folder (png, jpg, jpeg, bmp, tif, tiff; case-insensitive), sorted by name.
// Throws when the folder is missing; returns an empty list for an empty folder.
std::vector<std::filesystem::path> ListImages(const std::filesystem::path& dir);
// Whether the file name ends in an image extension ListImages takes (case-insensitive).
bool HasImageExtension(const std::filesystem::path& path);

// 8-bit images with 1, 3 (BGR) or 4 (BGRA) channels converted to 3-channel BGR / 1-channel gray
// (a 3-channel input is returned as is, not copied). `what` names the image in errors.
cv::Mat ToBgr(const cv::Mat& image, const std::string& what = "image");
cv::Mat ToGray(const cv::Mat& image, const std::string& what = "image");

// Resize as the SuperGlue reference code does for --resize (models/utils.py read_image:
// cv2.resize of the uint8 image with its default INTER_LINEAR). width/height <= 0 keep the size.
cv::Mat ResizeForInference(const cv::Mat& image, int width, int height);

}  // namespace vigil::io
