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

using testing::ErrorOf;

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


// --- the hand-made checkpoints of tests/data/checkpoints (see make_corpus.py there) ---

void ExpectTinyTensors(const StateDict& sd, const std::string& prefix) {
  ASSERT_EQ(sd.size(), 4u);
  const nn::Tensor& w = sd.Get(prefix + "w", {2, 3});  // stored transposed: stride (1, 2)
  EXPECT_EQ(w.data, (std::vector<float>{0, 2, 4, 1, 3, 5}));
  EXPECT_EQ(sd.Get(prefix + "tail", {2}).data, (std::vector<float>{4, 5}));
  EXPECT_EQ(sd.Get(prefix + "h", {3}).data, (std::vector<float>{1.f, -2.5f, 65504.f}));
  EXPECT_EQ(sd.Get(prefix + "n", {}).data, (std::vector<float>{12345.f}));
  EXPECT_EQ(sd.GetDType(prefix + "w"), DType::kFloat32);
  EXPECT_EQ(sd.GetDType(prefix + "h"), DType::kFloat16);
  EXPECT_EQ(sd.GetDType(prefix + "n"), DType::kInt64);
}

TEST(TorchCheckpoint, ZipWithNestedDictStridesSharedStorageAndHalf) {
  const StateDict sd = LoadTorchCheckpoint(CorpusDir() / "tiny_zip.pth");
  ExpectTinyTensors(sd, "model.");  // "epoch": 3 is not a tensor and is skipped
  StateDict stripped = sd;
  stripped.StripPrefix("model.");
  ExpectTinyTensors(stripped, "");
}

TEST(TorchCheckpoint, LegacyWithStorageViews) {
  ExpectTinyTensors(LoadTorchCheckpoint(CorpusDir() / "tiny_legacy.pth"), "");
}

TEST(TorchCheckpoint, PythonPicklerProtocols4And5) {
  ExpectTinyTensors(LoadTorchCheckpoint(CorpusDir() / "tiny_zip_proto4.pth"), "model.");
  ExpectTinyTensors(LoadTorchCheckpoint(CorpusDir() / "tiny_legacy_proto5.pth"), "");
}

TEST(TorchCheckpoint, RejectsBrokenCorpusFilesWithClearMessages) {
  const std::pair<const char*, const char*> kCases[] = {
      {"not_a_checkpoint.png", ": not a PyTorch checkpoint (unknown format, first bytes 89504e47"},
      {"zip_without_data_pkl.pth", ": zip archive without '<folder>/data.pkl'"},
      {"zip_short_storage.pth", ": zip entry 'archive/data/0' has 20 bytes, expected 24"},
      {"zip_missing_storage.pth",
       ": tensor 'model.h': storage 'archive/data/1' is missing from the archive"},
      {"legacy_unknown_opcode.pth", ": unsupported pickle opcode 0xff"},
      {"legacy_bad_storage_size.pth",
       ": storage '1' (tensor 'h') has 1000 elements in the file but 3 in the pickle"},
      {"legacy_view_out_of_bounds.pth",
       ": tensor 'tail' (offset 0, size [3], stride [1]) reads past the end of its storage '0' "
       "of 2 elements"},
  };
  for (const auto& [file, message] : kCases) {
    SCOPED_TRACE(file);
    const fs::path path = CorpusDir() / file;
    const std::string error = ErrorOf([&] { LoadTorchCheckpoint(path); });
    EXPECT_EQ(error.rfind(path.string() + ": ", 0), 0u) << error;  // names the file first
    EXPECT_NE(error.find(message), std::string::npos) << error;
  }
}

// --- broken variants of the real fixture files, built in a temp folder ---

TEST(TorchCheckpoint, RejectsTruncatedFilesAtEveryStage) {
  VIGIL_REQUIRE_FILE(SuperPointLegacy());
  VIGIL_REQUIRE_FILE(SuperPointZip());
  const fs::path dir = testing::MakeTempDir("ckpt_truncated");
  for (const fs::path& source : {SuperPointLegacy(), SuperPointZip()}) {
    const std::string bytes = ReadFileToString(source);
    const bool legacy = source == SuperPointLegacy();
    // Inside each pickle of the legacy header, the object pickle, the key list, a size field
    // and the storage data; for the zip, anywhere loses the central directory.
    for (size_t cut : {size_t{1}, size_t{10}, size_t{20}, size_t{100}, size_t{1500}, size_t{3000},
                       size_t{3052}, bytes.size() / 2, bytes.size() - 1}) {
      SCOPED_TRACE(cut);
      const fs::path path = dir / ("cut_" + std::to_string(cut) + source.filename().string());
      WriteBytes(path, bytes.substr(0, cut));
      const std::string error = ErrorOf([&] { LoadTorchCheckpoint(path); });
      EXPECT_EQ(error.rfind(path.string() + ": ", 0), 0u) << error;
      if (legacy) {
        EXPECT_NE(error.find("truncated file"), std::string::npos) << error;
      } else {
        EXPECT_NE(error.find("zip"), std::string::npos) << error;
      }
    }
  }
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory("", "empty.pth"); }).find("empty.pth: empty file"),
            std::string::npos);
}

// The legacy data section is the 8-byte count + data of each storage, at the end of the file;
// SuperPoint shares no storages, so it starts at size - sum(8 + 4 * numel).
size_t LegacyDataStart(const std::string& bytes, const StateDict& sd) {
  size_t data = 0;
  for (const auto& [key, entry] : sd.entries()) data += 8 + 4 * entry.tensor.data.size();
  return bytes.size() - data;
}

TEST(TorchCheckpoint, RejectsCorruptedLegacyStorageSizes) {
  VIGIL_REQUIRE_FILE(SuperPointLegacy());
  const std::string bytes = ReadFileToString(SuperPointLegacy());
  const size_t start = LegacyDataStart(bytes, LoadTorchCheckpoint(SuperPointLegacy()));
  int64_t count;
  std::memcpy(&count, bytes.data() + start, 8);
  ASSERT_GT(count, 0);
  ASSERT_LT(count, 1 << 20);
  for (int64_t bad : {count + 1, count - 1, int64_t{-1}, int64_t{1} << 62}) {
    SCOPED_TRACE(bad);
    std::string corrupt = bytes;
    std::memcpy(corrupt.data() + start, &bad, 8);
    const std::string error = ErrorOf([&] { LoadTorchCheckpointFromMemory(corrupt, "sp.pth"); });
    EXPECT_NE(error.find(fmt::format("elements in the file but {} in the pickle (corrupted storage "
                                     "size at offset {})", count, start)),
              std::string::npos)
        << error;
  }
}

TEST(TorchCheckpoint, RejectsUnknownOpcodesAndClasses) {
  VIGIL_REQUIRE_FILE(SuperPointLegacy());
  const std::string bytes = ReadFileToString(SuperPointLegacy());
  const size_t global = bytes.find("ccollections\nOrderedDict\n");
  ASSERT_NE(global, std::string::npos);
  std::string bad_opcode = bytes;
  bad_opcode[global] = '\xfe';
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory(bad_opcode, "op.pth"); })
                .find("op.pth: unsupported pickle opcode 0xfe"),
            std::string::npos);

  std::string bad_class = bytes;
  const size_t rebuild = bytes.find("_rebuild_tensor_v2");
  ASSERT_NE(rebuild, std::string::npos);
  bad_class.replace(rebuild, 18, "_rebuild_tensor_v9");
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory(bad_class, "cls.pth"); })
                .find("cls.pth: unsupported class 'torch._utils._rebuild_tensor_v9'"),
            std::string::npos);

  std::string bad_storage = bytes;
  const size_t storage = bytes.find("FloatStorage");
  ASSERT_NE(storage, std::string::npos);
  bad_storage.replace(storage, 12, "FloatStorag3");
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory(bad_storage, "st.pth"); })
                .find("st.pth: unsupported storage type 'torch.FloatStorag3'"),
            std::string::npos);
}

TEST(TorchCheckpoint, RejectsZipWithCorruptedStorageData) {
  VIGIL_REQUIRE_FILE(SuperPointZip());
  std::string bytes = ReadFileToString(SuperPointZip());
  // Storages are stored uncompressed: flip one byte in the middle of the archive; the entry's
  // CRC no longer matches.
  bytes[bytes.size() / 2] ^= 0x5a;
  const std::string error = ErrorOf([&] { LoadTorchCheckpointFromMemory(bytes, "crc.pth"); });
  EXPECT_EQ(error.rfind("crc.pth: cannot read zip entry 'superpoint_random_zip/data/", 0), 0u)
      << error;
}

TEST(TorchCheckpoint, RejectsOtherFormats) {
  const fs::path png = testing::FixturesDir() / "images/freiburg0.png";
  if (fs::exists(png)) {
    EXPECT_NE(ErrorOf([&] { LoadTorchCheckpoint(png); })
                  .find(png.string() + ": not a PyTorch checkpoint (unknown format, first bytes "
                                       "89504e470d0a1a0a)"),
              std::string::npos);
  }
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory("hello world", "t.txt"); })
                .find("t.txt: not a PyTorch checkpoint (unknown format, first bytes 68656c6c6f20776f)"),
            std::string::npos);
  std::string tar(600, '\0');
  tar.replace(257, 5, "ustar");
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpointFromMemory(tar, "old.tar"); })
                .find("old.tar: tar-based checkpoint"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { LoadTorchCheckpoint("/nonexistent/x.pth"); }).find("/nonexistent/x.pth"),
            std::string::npos);
}

// --- hostile pickles, assembled opcode by opcode into a legacy-format file ---

std::string Str(const std::string& s) {  // BINUNICODE
  const uint32_t n = static_cast<uint32_t>(s.size());
  return "X" + std::string(reinterpret_cast<const char*>(&n), 4) + s;
}
std::string Long(int64_t v) {  // LONG1 with 8 bytes
  return "\x8a\x08" + std::string(reinterpret_cast<const char*>(&v), 8);
}
// A legacy file: magic, protocol 1001, empty sys-info, `object`, the storage keys, `data`.
std::string LegacyFile(const std::string& object, const std::string& keys = "\x80\x02]." ,
                       const std::string& data = "") {
  const std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
  return magic + "\x80\x02M\xe9\x03." + "\x80\x02}." + object + keys + data;
}
std::string LoadError(const std::string& bytes) {
  return ErrorOf([&] { LoadTorchCheckpointFromMemory(bytes, "evil.pth"); });
}

TEST(TorchCheckpoint, HostilePicklesAreBounded) {
  // 40 levels of dicts that each hold the level below twice: 2^40 paths to flatten (stopped by
  // the bound on the total length of the names).
  std::string blowup = "\x80\x02}q";
  blowup += '\0';
  blowup += '0';
  for (int level = 1; level <= 40; ++level) {
    blowup += "}(" + Str("a") + "h" + char(level - 1) + Str("b") + "h" + char(level - 1) + "uq" +
              char(level) + "0";
  }
  blowup += "h";
  blowup += char(40);
  blowup += ".";
  const std::string blowup_error = LoadError(LegacyFile(blowup));
  EXPECT_NE(blowup_error.find("evil.pth: tensor names longer than 67108864 bytes in all"),
            std::string::npos)
      << blowup_error;

  // A dict that contains itself.
  std::string cycle = "\x80\x02}q";
  cycle += '\0';
  cycle += Str("self") + "h" + '\0' + "s.";
  EXPECT_NE(LoadError(LegacyFile(cycle)).find("evil.pth: dicts nested more than 64 deep"),
            std::string::npos);

  EXPECT_NE(LoadError(LegacyFile("\x80\x02\x30.")).find("stack underflow"), std::string::npos);
  EXPECT_NE(LoadError(LegacyFile("\x80\x02h\x05.")).find("memo index 5 not set"),
            std::string::npos);
  EXPECT_NE(LoadError(LegacyFile("\x80\x02X\xff\xff\xff\xff.")).find("truncated file"),
            std::string::npos);
  EXPECT_NE(LoadError(LegacyFile("\x80\x02N.")).find("holds a None, expected a dict"),
            std::string::npos);
  EXPECT_NE(LoadError(LegacyFile("\x80\x02}N.")).find("stack holds 2 values at STOP"),
            std::string::npos);
}

TEST(TorchCheckpoint, HostileTensorGeometryIsRejected) {
  // {"t": tensor over storage '0' of 4 floats with the given offset/size/stride}
  auto file = [](int64_t offset, int64_t size, int64_t stride) {
    const std::string storage = "(" + Str("storage") + "ctorch\nFloatStorage\n" + Str("0") +
                                Str("cpu") + "K\x04" + "Nt" + "Q";
    const std::string object = "\x80\x02}(" + Str("t") + "ctorch._utils\n_rebuild_tensor_v2\n(" +
                               storage + Long(offset) + "(" + Long(size) + "t(" + Long(stride) +
                               "t\x89}tRu.";
    std::string count(8, '\0');
    count[0] = 4;
    return LegacyFile(object, "\x80\x02](" + Str("0") + "e.", count + std::string(16, '\0'));
  };
  ASSERT_EQ(LoadTorchCheckpointFromMemory(file(1, 3, 1), "ok.pth").Get("t", {3}).data,
            (std::vector<float>{0, 0, 0}));
  EXPECT_NE(LoadError(file(0, 5, 1)).find("evil.pth: tensor 't' (offset 0, size [5], stride [1]) "
                                          "reads past the end of its storage '0' of 4 elements"),
            std::string::npos);
  EXPECT_NE(LoadError(file(0, int64_t{1} << 40, 0)).find("tensors hold more than"),
            std::string::npos);
  EXPECT_NE(LoadError(file(0, 2, int64_t{1} << 62)).find("reads past the end"), std::string::npos);
  EXPECT_NE(LoadError(file(0, int64_t{1} << 62, int64_t{1} << 62)).find("strides [4611686018427387904] overflow"),
            std::string::npos);
  EXPECT_NE(LoadError(file(-1, 1, 1)).find("reads past the end"), std::string::npos);
  EXPECT_NE(LoadError(file(0, -3, 1)).find("negative size or stride"), std::string::npos);
}

}  // namespace
}  // namespace vigil::io
