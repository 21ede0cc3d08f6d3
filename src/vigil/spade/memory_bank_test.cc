#include "vigil/spade/memory_bank.h"

#include <fstream>

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::spade {
namespace {
namespace fs = std::filesystem;
using testing::ErrorOf;

MemoryBank SmallBank() {
  MemoryBank bank;
  bank.method = "spade";
  bank.backbone = {"net.onnx", 1234, "00000000deadbeef"};
  bank.backbone_path = "/models/net.onnx";
  bank.preprocessing.pyramid_taps = {"a", "b"};
  bank.method_options = {{"k", 5}};
  bank.train_images = {"000.png", "001.png"};
  BankArray& pool = bank.Add("pool", {2, 3});
  pool.data = {1, 2, 3, 4, 5, 6};
  BankArray& map = bank.Add("pyramid:a", {2, 1, 2, 2});
  for (size_t i = 0; i < map.data.size(); ++i) map.data[i] = 0.5f * static_cast<float>(i);
  return bank;
}

TEST(MemoryBank, RoundTripKeepsEverything) {
  const fs::path path = testing::MakeTempDir("bank") / "bank.vmb";
  const MemoryBank bank = SmallBank();
  SaveMemoryBank(path, bank);
  const MemoryBank loaded = LoadMemoryBank(path);
  EXPECT_EQ(loaded.method, "spade");
  EXPECT_TRUE(loaded.backbone == bank.backbone);
  EXPECT_EQ(loaded.backbone.file_name, "net.onnx");
  EXPECT_EQ(loaded.backbone_path, "/models/net.onnx");
  EXPECT_EQ(loaded.preprocessing.pyramid_taps, bank.preprocessing.pyramid_taps);
  EXPECT_EQ(loaded.preprocessing.mean, bank.preprocessing.mean);
  EXPECT_EQ(loaded.method_options, bank.method_options);
  EXPECT_EQ(loaded.train_images, bank.train_images);
  ASSERT_EQ(loaded.arrays.size(), 2u);
  EXPECT_EQ(loaded.Get("pool").data, bank.Get("pool").data);
  EXPECT_EQ(loaded.Get("pyramid:a").shape, (std::vector<int64_t>{2, 1, 2, 2}));
  EXPECT_EQ(loaded.Get("pyramid:a").data, bank.Get("pyramid:a").data);
  EXPECT_NE(ErrorOf([&] { loaded.Get("nope"); }).find("no array 'nope'"), std::string::npos);
}

TEST(MemoryBank, RefusesCorruptTruncatedAndForeignFiles) {
  const fs::path dir = testing::MakeTempDir("bank_corrupt");
  SaveMemoryBank(dir / "good.vmb", SmallBank());
  std::string bytes = ReadFileToString(dir / "good.vmb");

  std::string flipped = bytes;
  flipped[flipped.size() - 20] ^= 0x40;  // inside the array data
  WriteTextFileAtomically(dir / "flipped.vmb", flipped);
  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "flipped.vmb"); }).find("checksum mismatch"),
            std::string::npos);

  WriteTextFileAtomically(dir / "short.vmb", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "short.vmb"); }).find("short.vmb"),
            std::string::npos);
  WriteTextFileAtomically(dir / "tiny.vmb", bytes.substr(0, 10));
  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "tiny.vmb"); }).find("truncated"),
            std::string::npos);

  WriteTextFileAtomically(dir / "png.vmb", "\x89PNG\r\n\x1a\n and more bytes here");
  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "png.vmb"); }).find("not a vigil memory bank"),
            std::string::npos);

  std::string future = bytes;
  future[8] = 9;  // format version 9
  WriteTextFileAtomically(dir / "future.vmb", future);
  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "future.vmb"); }).find("version 9"),
            std::string::npos);

  EXPECT_NE(ErrorOf([&] { LoadMemoryBank(dir / "missing.vmb"); }).find("not found"),
            std::string::npos);
}

TEST(MemoryBank, RefusesAnotherBackboneOrPreprocessing) {
  const fs::path model = testing::FixturesDir() / "spade" / "resnet18_random_taps.onnx";
  VIGIL_REQUIRE_FILE(model);
  BackboneOptions options = BackbonePreset("resnet");
  options.model = model.string();
  Backbone backbone(options);
  MemoryBank bank;
  bank.method = "spade";
  bank.backbone = backbone.identity();
  bank.preprocessing = options;
  EXPECT_NO_THROW(CheckBankMatchesBackbone(bank, backbone, "bank.vmb"));

  MemoryBank other_model = bank;
  other_model.backbone.content_hash = "0123456789abcdef";
  other_model.backbone.file_name = "wrn50.onnx";
  const std::string e1 =
      ErrorOf([&] { CheckBankMatchesBackbone(other_model, backbone, "bank.vmb"); });
  EXPECT_NE(e1.find("wrn50.onnx"), std::string::npos) << e1;
  EXPECT_NE(e1.find("refit"), std::string::npos) << e1;

  MemoryBank other_norm = bank;
  other_norm.preprocessing.mean = {0.5f, 0.5f, 0.5f};
  const std::string e2 =
      ErrorOf([&] { CheckBankMatchesBackbone(other_norm, backbone, "bank.vmb"); });
  EXPECT_NE(e2.find("mean"), std::string::npos) << e2;
}

}  // namespace
}  // namespace vigil::spade
