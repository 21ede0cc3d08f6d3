// LightGlue (Lindenberger, Sarlin, Pollefeys, ICCV 2023), as released by the authors
// (cvg/LightGlue, lightglue/lightglue.py).
#pragma once

#include <memory>

#include "vigil/matching/matcher.h"

namespace vigil {

std::unique_ptr<Matcher> CreateLightGlueMatcher(const MatcherOptions& options);

}  // namespace vigil
