#include "vigil/util/threads.h"

#include <cblas.h>
#include <opencv2/core/utility.hpp>

#include "vigil/util/check.h"

namespace vigil {

void SetCvThreads(int num_threads) {
  VIGIL_CHECK(num_threads >= 1, "OpenCV threads must be >= 1, got {}", num_threads);
  if (cv::getNumThreads() != num_threads) cv::setNumThreads(num_threads);
}

void SetBlasThreads(int num_threads) {
  VIGIL_CHECK(num_threads >= 1, "OpenBLAS threads must be >= 1, got {}", num_threads);
  if (openblas_get_num_threads() != num_threads) openblas_set_num_threads(num_threads);
}

int BlasThreads() { return openblas_get_num_threads(); }

}  // namespace vigil
