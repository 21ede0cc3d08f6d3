#include "vigil/io/torch_checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::io {
namespace {

namespace fs = std::filesystem;

fs::path SuperPointZip() { return testing::FixturesDir() / "superpoint/superpoint_random_zip.pth"; }
fs::path SuperPointLegacy() {
  return testing::FixturesDir() / "superpoint/superpoint_random_legacy.pth";
}
fs::path CorpusDir() { return testing::TestDataDir() / "checkpoints"; }

// Runs `load` and returns the vigil::Error message; fails the test when nothing is thrown or
// something other than vigil::Error escapes.
template <typename F>
std::string ErrorOf(F&& load) {
  try {
    load();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no vigil::Error thrown";
  return "";
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  WriteBinaryFileAtomically(path, bytes.data(), bytes.size());
}

// The SuperPoint layers of the official checkpoint, in the order the GGUF file numbers them.
const char* const kSuperPointLayers[] = {"conv1a", "conv1b", "conv2a", "conv2b",
                                         "conv3a", "conv3b", "conv4a", "conv4b",
                                         "convPa", "convPb", "convDa", "convDb"};

TEST(TorchCheckpoint, SuperPointZipAndLegacyHoldIdenticalTensors) {
  VIGIL_REQUIRE_FILE(SuperPointZip());
  VIGIL_REQUIRE_FILE(SuperPointLegacy());
  const StateDict zip = LoadTorchCheckpoint(SuperPointZip());
  const StateDict legacy = LoadTorchCheckpoint(SuperPointLegacy());
  EXPECT_EQ(zip.source(), SuperPointZip().string());
  ASSERT_EQ(zip.size(), 24u);  // 12 conv layers x (weight, bias)
  ASSERT_EQ(zip.Keys(), legacy.Keys());
  for (const std::string& key : zip.Keys()) {
    SCOPED_TRACE(key);
    const nn::Tensor& a = zip.Get(key);
    const nn::Tensor& b = legacy.Get(key);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(zip.GetDType(key), DType::kFloat32);
    EXPECT_EQ(legacy.GetDType(key), DType::kFloat32);
    ASSERT_EQ(a.data.size(), b.data.size());
    EXPECT_EQ(std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)), 0);
  }
  EXPECT_EQ(zip.Get("conv1a.weight").shape, (std::vector<int64_t>{64, 1, 3, 3}));
  EXPECT_EQ(zip.Get("convPb.weight").shape, (std::vector<int64_t>{65, 256, 1, 1}));
  EXPECT_EQ(zip.Get("convDb.bias").shape, (std::vector<int64_t>{256}));
}

// A minimal GGUF v3 reader, written independently of the checkpoint code: it gives the same
// SuperPoint weights (fp16 conv weights, fp32 biases) to compare against.
class Gguf {
 public:
  explicit Gguf(const fs::path& path) : bytes_(ReadFileToString(path)) {
    EXPECT_EQ(bytes_.compare(0, 4, "GGUF"), 0);
    pos_ = 4;
    EXPECT_EQ(Read<uint32_t>(), 3u);
    const uint64_t tensors = Read<uint64_t>();
    const uint64_t kvs = Read<uint64_t>();
    for (uint64_t i = 0; i < kvs; ++i) {
      ReadString();
      SkipValue(Read<uint32_t>());
    }
    for (uint64_t i = 0; i < tensors; ++i) {
      Info info;
      const std::string name = ReadString();
      const uint32_t dims = Read<uint32_t>();
      info.numel = 1;
      for (uint32_t d = 0; d < dims; ++d) info.numel *= Read<uint64_t>();
      info.type = Read<uint32_t>();
      info.offset = Read<uint64_t>();
      infos_[name] = info;
    }
    data_start_ = (pos_ + 31) / 32 * 32;  // general.alignment defaults to 32
  }

  std::vector<float> Values(const std::string& name) {
    const Info& info = infos_.at(name);
    std::vector<float> out(info.numel);
    const char* p = bytes_.data() + data_start_ + info.offset;
    for (uint64_t i = 0; i < info.numel; ++i) {
      if (info.type == 0) {  // F32
        std::memcpy(&out[i], p + 4 * i, 4);
      } else {  // F16, decoded arithmetically
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const int exponent = (h >> 10) & 0x1f;
        const double mantissa = h & 0x3ff;
        const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24)
                                               : std::ldexp(1024 + mantissa, exponent - 25);
        out[i] = static_cast<float>((h & 0x8000) ? -magnitude : magnitude);
      }
    }
    return out;
  }

 private:
  struct Info {
    uint64_t numel = 0;
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  template <typename T>
  T Read() {
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string ReadString() {
    const uint64_t n = Read<uint64_t>();
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void SkipValue(uint32_t type) {
    static const size_t kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      ReadString();
    } else if (type == 9) {
      const uint32_t item_type = Read<uint32_t>();
      const uint64_t count = Read<uint64_t>();
      for (uint64_t i = 0; i < count; ++i) SkipValue(item_type);
    } else {
      pos_ += kSizes[type];
    }
  }
  std::string bytes_;
  size_t pos_ = 0;
  size_t data_start_ = 0;
  std::map<std::string, Info> infos_;
};

TEST(TorchCheckpoint, OfficialSuperPointEqualsItsGgufConversion) {
  const fs::path pth = testing::ModelsDir() / "superpoint/superpoint_v1_from_fp16.pth";
  const fs::path gguf_path = testing::ModelsDir() / "superpoint/superpoint_v1_fp16.gguf";
  VIGIL_REQUIRE_FILE(pth);
  VIGIL_REQUIRE_FILE(gguf_path);
  const StateDict sd = LoadTorchCheckpoint(pth);
  Gguf gguf(gguf_path);
  ASSERT_EQ(sd.size(), 24u);
  EXPECT_EQ(sd.Get("conv1a.weight", {64, 1, 3, 3}).numel(), 576);
  for (int layer = 0; layer < 12; ++layer) {
    for (const char* part : {"weight", "bias"}) {
      const std::string key = std::string(kSuperPointLayers[layer]) + "." + part;
      SCOPED_TRACE(key);
      const std::vector<float> expected =
          gguf.Values("l" + std::to_string(layer) + (part[0] == 'w' ? "_weights" : "_biases"));
      const nn::Tensor& t = sd.Get(key);
      ASSERT_EQ(t.data.size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(t.data[i], expected[i]) << i;
    }
  }
}

TEST(TorchCheckpoint, ReadsSuperGlueLegacyWithInt64Buffers) {
  const fs::path path = testing::FixturesDir() / "superglue/superglue_random_legacy.pth";
  VIGIL_REQUIRE_FILE(path);
  const StateDict sd = LoadTorchCheckpoint(path);
  EXPECT_EQ(sd.Get("kenc.encoder.0.weight", {32, 3, 1}).numel(), 96);
  EXPECT_EQ(sd.GetDType("kenc.encoder.1.num_batches_tracked"), DType::kInt64);
  const nn::Tensor& count = sd.Get("kenc.encoder.1.num_batches_tracked", {});
  ASSERT_EQ(count.numel(), 1);
  EXPECT_EQ(count.data[0], std::round(count.data[0]));
  EXPECT_GE(count.data[0], 0.f);
  // running_var of a batch norm is positive.
  for (float v : sd.Get("kenc.encoder.1.running_var").data) EXPECT_GT(v, 0.f);
  EXPECT_TRUE(sd.Contains("gnn.layers.0.attn.merge.weight"));
  EXPECT_TRUE(sd.Contains("final_proj.weight"));
}

TEST(TorchCheckpoint, ReadsLightGlueZip) {
  const fs::path path = testing::FixturesDir() / "lightglue/lightglue_random_zip.pth";
  VIGIL_REQUIRE_FILE(path);
  const StateDict sd = LoadTorchCheckpoint(path);
  EXPECT_TRUE(sd.Contains("self_attn.0.Wqkv.weight"));
  EXPECT_TRUE(sd.Contains("cross_attn.2.ffn.0.weight"));
  EXPECT_TRUE(sd.Contains("token_confidence.0.token.0.bias"));
  for (const auto& [key, entry] : sd.entries()) {
    EXPECT_EQ(entry.tensor.numel(), nn::Tensor::NumElements(entry.tensor.shape)) << key;
  }
}

TEST(TorchCheckpoint, ReadsAllAlikedModels) {
  for (const char* model : {"aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32"}) {
    SCOPED_TRACE(model);
    const fs::path path = testing::ModelsDir() / "aliked" / (std::string(model) + ".pth");
    VIGIL_REQUIRE_FILE(path);
    const StateDict sd = LoadTorchCheckpoint(path);
    EXPECT_GT(sd.size(), 50u);
    int int64_tensors = 0;
    for (const auto& [key, entry] : sd.entries()) {
      if (entry.dtype == DType::kInt64) ++int64_tensors;
      for (float v : entry.tensor.data) ASSERT_TRUE(std::isfinite(v)) << key;
    }
    EXPECT_GT(int64_tensors, 0);  // num_batches_tracked of the batch norms
  }
}

TEST(TorchCheckpoint, GetReportsMissingKeysAndWrongShapes) {
  VIGIL_REQUIRE_FILE(SuperPointZip());
  StateDict sd = LoadTorchCheckpoint(SuperPointZip());
  const std::string file = SuperPointZip().string();
  EXPECT_EQ(ErrorOf([&] { sd.Get("conv9.weight"); }),
            file + ": missing tensor 'conv9.weight'");
  EXPECT_EQ(ErrorOf([&] { sd.Get("conv1a.weight", {64, 3, 3, 3}); }),
            file + ": tensor 'conv1a.weight' has shape [64, 1, 3, 3], expected [64, 3, 3, 3]");
  EXPECT_EQ(ErrorOf([&] { sd.GetDType("nope"); }), file + ": missing tensor 'nope'");
  sd.GetMutable("conv1a.bias").data[0] = 42.f;
  EXPECT_EQ(sd.Get("conv1a.bias").data[0], 42.f);
  sd.StripPrefix("conv1a.");
  EXPECT_TRUE(sd.Contains("weight"));
  EXPECT_TRUE(sd.Contains("conv1b.weight"));
  EXPECT_FALSE(sd.Contains("conv1a.weight"));
}

}  // namespace
}  // namespace vigil::io
