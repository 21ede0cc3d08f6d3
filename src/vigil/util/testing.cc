#include "vigil/util/testing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "vigil/util/check.h"

namespace vigil::testing {
namespace fs = std::filesystem;

fs::path SharedDir() {
  if (const char* env = std::getenv("VIGIL_SHARED_DIR"); env != nullptr) return env;
  return "../shared";
}
fs::path FixturesDir() { return SharedDir() / "fixtures"; }
fs::path ModelsDir() { return SharedDir() / "models"; }
fs::path DataDir() { return SharedDir() / "data"; }

fs::path TestDataDir() {
  if (const char* env = std::getenv("VIGIL_TEST_DATA"); env != nullptr) return env;
  return "tests/data";
}

fs::path MakeTempDir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "vigil_" + tag + "_" + std::to_string(::getpid());
  if (info != nullptr) name += std::string("_") + info->test_suite_name() + "_" + info->name();
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no vigil::Error thrown";
  return "";
}

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value)
    : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str()); old != nullptr) previous_ = old;
  if (value) {
    setenv(name_.c_str(), value->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

ScopedEnv::~ScopedEnv() {
  if (previous_) {
    setenv(name_.c_str(), previous_->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace vigil::testing
