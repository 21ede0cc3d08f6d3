// In progress (issue 5): replaced by the LightGlue implementation.
#include "vigil/matching/lightglue.h"

#include "vigil/util/check.h"

namespace vigil {
std::unique_ptr<Matcher> CreateLightGlueMatcher(const MatcherOptions&) {
  ThrowError("lightglue: not available in this build yet");
}
}  // namespace vigil
