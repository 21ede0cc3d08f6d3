#include "vigil/util/model_path.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {
namespace fs = std::filesystem;

TEST(ModelPath, EnvironmentFolderIsSearchedBeforeDefaults) {
  const fs::path dir = fs::temp_directory_path() / "vigil_models_env";
  fs::create_directories(dir / "net");
  std::ofstream(dir / "net" / "w.pth") << "x";
  const testing::ScopedEnv env("VIGIL_MODELS", "/nonexistent:" + dir.string());
  EXPECT_EQ(FindModelFile("", {{"net/w.pth"}, "test weights", ""}), dir / "net" / "w.pth");
}

// $VIGIL_SHARED_DIR/models is searched after $VIGIL_MODELS, so a checkout whose shared folder is
// not at ../shared still finds the models; $VIGIL_MODELS wins when both hold the file.
TEST(ModelPath, SharedDirModelsAreSearchedAfterTheEnvironmentFolders) {
  const fs::path shared = testing::MakeTempDir("model_path_shared");
  const fs::path own = testing::MakeTempDir("model_path_own");
  for (const fs::path& root : {shared / "models", own}) {
    fs::create_directories(root / "net");
    std::ofstream(root / "net" / "w.pth") << "x";
  }
  const testing::ScopedEnv shared_env("VIGIL_SHARED_DIR", shared.string());
  {
    const testing::ScopedEnv env("VIGIL_MODELS", std::nullopt);
    EXPECT_EQ(FindModelFile("", {{"net/w.pth"}, "test weights", ""}), shared / "models/net/w.pth");
  }
  const testing::ScopedEnv env("VIGIL_MODELS", own.string());
  EXPECT_EQ(FindModelFile("", {{"net/w.pth"}, "test weights", ""}), own / "net" / "w.pth");
}

TEST(ModelPath, MissingModelListsTriedPathsAndSource) {
  const testing::ScopedEnv env("VIGIL_MODELS", std::nullopt);
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
