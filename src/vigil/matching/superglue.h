// SuperGlue (Sarlin et al., CVPR 2020), as released by the authors
// (magicleap/SuperGluePretrainedNetwork, models/superglue.py).
#pragma once

#include <memory>

#include "vigil/matching/matcher.h"

namespace vigil {

std::unique_ptr<Matcher> CreateSuperGlueMatcher(const MatcherOptions& options);

}  // namespace vigil
