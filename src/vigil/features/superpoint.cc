// In progress (issue 2): replaced by the SuperPoint implementation.
#include "vigil/features/superpoint.h"

#include "vigil/util/check.h"

namespace vigil {
std::unique_ptr<FeatureExtractor> CreateSuperPointExtractor(const FeatureExtractorOptions&) {
  ThrowError("superpoint: not available in this build yet");
}
}  // namespace vigil
