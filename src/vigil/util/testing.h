// Helpers for the test suite: where ../shared (fixtures, models, data) and tests/data are.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace vigil::testing {

// $VIGIL_SHARED_DIR (set by CTest) or ../shared.
std::filesystem::path SharedDir();
std::filesystem::path FixturesDir();  // SharedDir()/fixtures
std::filesystem::path ModelsDir();    // SharedDir()/models
std::filesystem::path DataDir();      // SharedDir()/data
// tests/data in the source tree ($VIGIL_TEST_DATA).
std::filesystem::path TestDataDir();
// A fresh, empty temporary folder unique to the running test.
std::filesystem::path MakeTempDir(const std::string& tag);
// Runs `f` and returns the message of the vigil::Error it throws; when it throws nothing, the
// test fails and "" is returned. Other exceptions escape.
std::string ErrorOf(const std::function<void()>& f);

}  // namespace vigil::testing

// Skips the current test when a shared file is absent (e.g. a checkout without ../shared).
#define VIGIL_REQUIRE_FILE(path)                                               \
  do {                                                                         \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)
