// SPADE (Cohen & Hoshen 2020) as an AnomalyDetector; the algorithm and the reference it follows
// are described in detector.h, its options in spade_detector_options.h.
#pragma once

#include <memory>

#include "vigil/spade/detector.h"
#include "vigil/spade/spade_detector_options.h"

namespace vigil::spade {

// Uses options.spade and options.knn.
std::unique_ptr<AnomalyDetector> MakeSpadeDetector(const AnomalyDetectorOptions& options);

}  // namespace vigil::spade
