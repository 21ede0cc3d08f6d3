// Helpers for the test suite: where ../shared (fixtures, models, data) and tests/data are.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
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

// Sets (or, with std::nullopt, unsets) an environment variable for the lifetime of the object and
// restores its previous state on destruction, so that a test that changes the model search path
// cannot leak it into the next test, even when an assertion returns early.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

}  // namespace vigil::testing

// Skips the current test when a shared file is absent (e.g. a checkout without ../shared).
#define VIGIL_REQUIRE_FILE(path)                                               \
  do {                                                                         \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)
