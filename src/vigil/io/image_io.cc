#include "vigil/io/image_io.h"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::io {
namespace fs = std::filesystem;

cv::Mat ReadImage(const fs::path& path, ImageMode mode) {
  VIGIL_CHECK(fs::is_regular_file(path), "{}: cannot read image (no such file)", path.string());
  const std::string bytes = ReadFileToString(path);
  VIGIL_CHECK(!bytes.empty(), "{}: cannot read image (empty file)", path.string());
  // A truncated PNG is caught here: libpng would print its own "libpng error" line to stderr
  // before OpenCV gives up, and the CLI promises one error line. The IEND chunk ends every PNG
  // (only trailing junk may follow it).
  if (bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0) {
    const size_t tail = bytes.size() > 64 ? bytes.size() - 64 : 0;
    VIGIL_CHECK(bytes.find("IEND", tail) != std::string::npos,
                "{}: cannot read image (truncated PNG: no IEND chunk)", path.string());
  }
  // A truncated JPEG decodes without an error (libjpeg warns "premature end of data" and fills
  // the rest with grey), so a frame cut short by a crashed recorder would be used as valid.
  // Every complete JPEG ends with the EOI marker FF D9 (only trailing junk may follow it).
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8) {
    const size_t tail = bytes.size() > 64 ? bytes.size() - 64 : 0;
    VIGIL_CHECK(bytes.find("\xFF\xD9", tail) != std::string::npos,
                "{}: cannot read image (truncated JPEG: no end-of-image marker)", path.string());
  }
  const int flags = mode == ImageMode::kColor  ? cv::IMREAD_COLOR
                    : mode == ImageMode::kGray ? cv::IMREAD_GRAYSCALE
                                               : cv::IMREAD_UNCHANGED;
  cv::Mat image;
  try {
    image = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                                 const_cast<char*>(bytes.data())),
                         flags);
  } catch (const cv::Exception& e) {
    ThrowError(fmt::format("{}: cannot read image (corrupt data: {})", path.string(), e.msg));
  }
  VIGIL_CHECK(!image.empty(), "{}: cannot read image (not a decodable image)", path.string());
  return image;
}

void WriteImage(const fs::path& path, const cv::Mat& image) {
  VIGIL_CHECK(!image.empty(), "{}: refusing to write an empty image", path.string());
  std::vector<uchar> buffer;
  bool ok = false;
  try {
    ok = cv::imencode(path.extension().string(), image, buffer);
  } catch (const cv::Exception& e) {
    ThrowError(fmt::format("{}: cannot encode image ({})", path.string(), e.msg));
  }
  VIGIL_CHECK(ok, "{}: cannot encode image", path.string());
  WriteBinaryFileAtomically(path, buffer.data(), buffer.size());
}

bool HasImageExtension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif" ||
         ext == ".tiff";
}

std::vector<fs::path> ListImages(const fs::path& dir) {
  VIGIL_CHECK(fs::is_directory(dir), "{}: {}", dir.string(), fs::exists(dir) ? "is a file, not a folder" : "no such folder");
  std::vector<fs::path> images;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && HasImageExtension(entry.path())) images.push_back(entry.path());
  }
  std::sort(images.begin(), images.end());
  return images;
}

namespace {
void CheckEightBit(const cv::Mat& image, const std::string& what) {
  VIGIL_CHECK(!image.empty(), "{}: empty image", what);
  VIGIL_CHECK(image.depth() == CV_8U, "{}: image must be 8-bit (got depth {})", what, image.depth());
  VIGIL_CHECK(image.channels() == 1 || image.channels() == 3 || image.channels() == 4,
              "{}: image must have 1, 3 or 4 channels (got {})", what, image.channels());
}
}  // namespace

cv::Mat ToBgr(const cv::Mat& image, const std::string& what) {
  CheckEightBit(image, what);
  if (image.channels() == 3) return image;
  cv::Mat bgr;
  cv::cvtColor(image, bgr, image.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
  return bgr;
}

cv::Mat ToGray(const cv::Mat& image, const std::string& what) {
  CheckEightBit(image, what);
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, image.channels() == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  return gray;
}

cv::Mat ResizeForInference(const cv::Mat& image, int width, int height) {
  if (width <= 0 || height <= 0 || (width == image.cols && height == image.rows)) return image;
  cv::Mat resized;
  cv::resize(image, resized, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  return resized;
}

}  // namespace vigil::io
