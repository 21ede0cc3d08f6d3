#include "vigil/util/check.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(Check, ThrowsFormattedMessage) {
  try {
    VIGIL_CHECK(1 + 1 == 3, "tensor {} has shape {}", "conv1.weight", 3);
    FAIL() << "expected a throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tensor conv1.weight has shape 3");
  }
}

TEST(Check, PassesSilentlyWhenTrue) { EXPECT_NO_THROW(VIGIL_CHECK(true, "never")); }

TEST(Check, OptionMessageNamesTheOption) {
  try {
    VIGIL_CHECK_OPTION(false, "nms_radius", "must be >= 0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "option nms_radius: must be >= 0");
  }
}

}  // namespace
}  // namespace vigil
