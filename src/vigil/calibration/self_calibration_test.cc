#include "vigil/calibration/self_calibration.h"

#include <gtest/gtest.h>
