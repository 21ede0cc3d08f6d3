// In progress (issue 6): replaced by the Aliked implementation.
#include "vigil/features/aliked.h"

#include "vigil/util/check.h"

namespace vigil {
std::unique_ptr<FeatureExtractor> CreateAlikedExtractor(const FeatureExtractorOptions&) {
  ThrowError("aliked: not available in this build yet");
}
}  // namespace vigil
