#include "vigil/util/file_util.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil {
namespace {
namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("vigil_file_util_" + name);
  fs::remove_all(dir);
  return dir;
}

TEST(FileUtil, AtomicWriteRoundTripsAndLeavesNoTemporary) {
  const fs::path dir = FreshDir("roundtrip");
  WriteTextFileAtomically(dir / "a.txt", "hello");
  EXPECT_EQ(ReadFileToString(dir / "a.txt"), "hello");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(FileUtil, FailedWriterLeavesNeitherFinalNorTemporaryFile) {
  const fs::path dir = FreshDir("fail");
  EXPECT_THROW(WriteFileAtomically(dir / "b.txt",
                                   [](const fs::path& tmp) {
                                     WriteTextFileAtomically(tmp, "partial");
                                     throw Error("boom");
                                   }),
               Error);
  EXPECT_FALSE(fs::exists(dir / "b.txt"));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(FileUtil, ReadingMissingFileNamesIt) {
  try {
    ReadFileToString("/nonexistent/vigil.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vigil.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace vigil
