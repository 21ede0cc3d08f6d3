// Helpers for the test suite: where ../shared (fixtures, models, data) and tests/data are.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/util/options_fields.h"

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

// The configuration identity covers every field: each leaf field of `defaults` changed on its own
// (booleans negated, integers + 1, reals * 1.5 + 0.01, strings extended, arrays extended with
// their last element or 1, objects given one more key), read back with OptionsFromJson, must
// give a ConfigHash no other change and not the defaults give. `change` may set a leaf itself
// (a name that must parse) and return true. Returns the paths that fail; *fields counts them all.
template <class T>
std::vector<std::string> FieldsOutsideTheIdentity(
    const T& defaults, int* fields,
    const std::function<bool(const std::string& path, nlohmann::json& leaf)>& change = {}) {
  const nlohmann::json base = OptionsToJson(defaults);
  std::set<std::string> hashes = {ConfigHash(base)};
  std::vector<std::string> failing;
  *fields = 0;
  ForEachLeafField(defaults, [&](const std::string& path, const nlohmann::json&) {
    nlohmann::json j = base;
    nlohmann::json& leaf = j[FieldPointer(path)];
    if (change && change(path, leaf)) {
    } else if (leaf.is_boolean()) {
      leaf = !leaf.get<bool>();
    } else if (leaf.is_number_integer()) {
      leaf = leaf.get<int64_t>() + 1;
    } else if (leaf.is_number()) {
      leaf = leaf.get<double>() * 1.5 + 0.01;
    } else if (leaf.is_string()) {
      leaf = leaf.get<std::string>() + "x";
    } else if (leaf.is_object()) {
      leaf["vigil-test-key"] = "x";
    } else if (leaf.is_array()) {
      leaf.push_back(leaf.empty() ? nlohmann::json(1) : leaf.back());
    }
    T changed;
    OptionsFromJson(j, &changed);
    if (!hashes.insert(ConfigHash(OptionsToJson(changed))).second) failing.push_back(path);
    ++*fields;
  });
  return failing;
}

}  // namespace vigil::testing

// Skips the current test when a shared file is absent (e.g. a checkout without ../shared).
#define VIGIL_REQUIRE_FILE(path)                                               \
  do {                                                                         \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)
