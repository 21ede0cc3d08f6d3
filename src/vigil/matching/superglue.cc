// In progress (issue 5): replaced by the SuperGlue implementation.
#include "vigil/matching/superglue.h"

#include "vigil/util/check.h"

namespace vigil {
std::unique_ptr<Matcher> CreateSuperGlueMatcher(const MatcherOptions&) {
  ThrowError("superglue: not available in this build yet");
}
}  // namespace vigil
