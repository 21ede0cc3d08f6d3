#include "vigil/util/model_path.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "vigil/util/check.h"

namespace vigil {
namespace {
namespace fs = std::filesystem;

TEST(ModelPath, EnvironmentFolderIsSearchedBeforeDefaults) {
  const fs::path dir = fs::temp_directory_path() / "vigil_models_env";
  fs::create_directories(dir / "net");
  std::ofstream(dir / "net" / "w.pth") << "x";
  setenv("VIGIL_MODELS", ("/nonexistent:" + dir.string()).c_str(), 1);
  EXPECT_EQ(FindModelFile("", {{"net/w.pth"}, "test weights", ""}), dir / "net" / "w.pth");
  unsetenv("VIGIL_MODELS");
}

TEST(ModelPath, MissingModelListsTriedPathsAndSource) {
  unsetenv("VIGIL_MODELS");
  try {
    FindModelFile("", {{"nope/missing.pth"}, "Nope weights", "https://example.org/nope"});
    FAIL();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("models/nope/missing.pth"), std::string::npos) << message;
    EXPECT_NE(message.find("../shared/models/nope/missing.pth"), std::string::npos);
    EXPECT_NE(message.find("https://example.org/nope"), std::string::npos);
  }
}

TEST(ModelPath, ExplicitPathMustExist) {
  EXPECT_THROW(FindModelFile("/nonexistent/w.pth", {{"x"}, "w", ""}), Error);
}

}  // namespace
}  // namespace vigil
