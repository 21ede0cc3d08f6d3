#include "vigil/spade/memory_bank.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::spade {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

constexpr char kMagic[8] = {'V', 'I', 'G', 'I', 'L', 'M', 'B', '\0'};

json PreprocessingToJson(const BackboneOptions& o) {
  return json{{"pyramid_taps", o.pyramid_taps},
              {"pool_tap", o.pool_tap},
              {"input_width", o.input_width},
              {"input_height", o.input_height},
              {"rgb", o.rgb},
              {"scale", o.scale},
              {"mean", o.mean},
              {"stddev", o.stddev}};
}

// Range-checked reads: nlohmann's get<int>() / get<float>() is a plain static_cast, undefined for
// 1e20 or 1e300, which a corrupt or hostile bank header can hold (json::type_error for a
// non-number is caught by the loader like any other header error).
int IntFromJson(const json& v, const char* what) {
  const double d = v.get<double>();
  VIGIL_CHECK(v.is_number_integer() && d >= std::numeric_limits<int>::min() &&
                  d <= std::numeric_limits<int>::max(),
              "memory bank: preprocessing '{}' = {} is not an int", what, v.dump());
  return static_cast<int>(v.get<int64_t>());
}
float FloatFromJson(const json& v, const char* what) {
  const double d = v.get<double>();
  VIGIL_CHECK(std::isfinite(d) && std::abs(d) <= std::numeric_limits<float>::max(),
              "memory bank: preprocessing '{}' = {} is not a finite float", what, v.dump());
  return static_cast<float>(d);
}

BackboneOptions PreprocessingFromJson(const json& j) {
  BackboneOptions o;
  o.pyramid_taps = j.at("pyramid_taps").get<std::vector<std::string>>();
  o.pool_tap = j.at("pool_tap").get<std::string>();
  o.input_width = IntFromJson(j.at("input_width"), "input_width");
  o.input_height = IntFromJson(j.at("input_height"), "input_height");
  o.rgb = j.at("rgb").get<bool>();
  o.scale = FloatFromJson(j.at("scale"), "scale");
  const json& mean = j.at("mean");
  const json& stddev = j.at("stddev");
  VIGIL_CHECK(mean.is_array() && mean.size() == 3 && stddev.is_array() && stddev.size() == 3,
              "memory bank: preprocessing 'mean' and 'stddev' must be arrays of 3 numbers");
  for (size_t c = 0; c < 3; ++c) {
    o.mean[c] = FloatFromJson(mean[c], "mean");
    o.stddev[c] = FloatFromJson(stddev[c], "stddev");
  }
  return o;
}

// Writes bytes and folds them into the running checksum.
class HashingWriter {
 public:
  HashingWriter(std::ofstream& out) : out_(out) {}
  void Write(const void* data, size_t size) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    hash_ = Fnv1a64(data, size, hash_);
  }
  uint64_t hash() const { return hash_; }

 private:
  std::ofstream& out_;
  uint64_t hash_ = 14695981039346656037ull;
};

}  // namespace

const BankArray& MemoryBank::Get(const std::string& name) const {
  for (const BankArray& a : arrays) {
    if (a.name == name) return a;
  }
  ThrowError(fmt::format("memory bank ({}) has no array '{}'", method, name));
}

BankArray& MemoryBank::Add(std::string name, std::vector<int64_t> shape) {
  BankArray array;
  array.name = std::move(name);
  array.shape = std::move(shape);
  array.data.resize(static_cast<size_t>(NumElements(array.shape)));
  arrays.push_back(std::move(array));
  return arrays.back();
}

void SaveMemoryBank(const fs::path& path, const MemoryBank& bank) {
  json header;
  header["method"] = bank.method;
  header["backbone"] = {{"file_name", bank.backbone.file_name},
                        {"file_size", bank.backbone.file_size},
                        {"content_hash", bank.backbone.content_hash},
                        {"path", bank.backbone_path}};
  header["preprocessing"] = PreprocessingToJson(bank.preprocessing);
  header["method_options"] = bank.method_options;
  header["train_images"] = bank.train_images;
  json arrays = json::array();
  for (const BankArray& a : bank.arrays) {
    VIGIL_CHECK(static_cast<int64_t>(a.data.size()) == NumElements(a.shape),
                "memory bank array '{}': {} values for shape [{}]", a.name, a.data.size(),
                fmt::join(a.shape, ", "));
    arrays.push_back({{"name", a.name}, {"shape", a.shape}});
  }
  header["arrays"] = arrays;
  const std::string header_text = header.dump();
  WriteFileAtomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    VIGIL_CHECK(out.good(), "{}: cannot open for writing", path.string());
    HashingWriter writer(out);
    writer.Write(kMagic, sizeof(kMagic));
    const uint32_t version = kMemoryBankFormatVersion;
    writer.Write(&version, sizeof(version));
    const uint64_t header_size = header_text.size();
    writer.Write(&header_size, sizeof(header_size));
    writer.Write(header_text.data(), header_text.size());
    for (const BankArray& a : bank.arrays) writer.Write(a.data.data(), a.data.size() * 4);
    const uint64_t checksum = writer.hash();
    out.write(reinterpret_cast<const char*>(&checksum), sizeof(checksum));
    out.close();
    VIGIL_CHECK(out.good(), "{}: write failed (disk full?)", path.string());
  });
}

MemoryBank LoadMemoryBank(const fs::path& path) {
  const std::string where = path.string();
  VIGIL_CHECK(fs::is_regular_file(path), "{}: memory bank not found", where);
  const std::string bytes = ReadFileToString(path);
  constexpr size_t kFixed = sizeof(kMagic) + sizeof(uint32_t) + sizeof(uint64_t);
  VIGIL_CHECK(bytes.size() >= sizeof(kMagic) && std::memcmp(bytes.data(), kMagic, 8) == 0,
              "{}: not a vigil memory bank (wrong magic bytes)", where);
  VIGIL_CHECK(bytes.size() >= kFixed + sizeof(uint64_t), "{}: memory bank is truncated ({} bytes)",
              where, bytes.size());
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, sizeof(version));
  VIGIL_CHECK(version == kMemoryBankFormatVersion,
              "{}: memory bank format version {} is not supported (this build reads version {}); "
              "refit the bank",
              where, version, kMemoryBankFormatVersion);
  uint64_t stored_checksum = 0;
  std::memcpy(&stored_checksum, bytes.data() + bytes.size() - 8, 8);
  VIGIL_CHECK(Fnv1a64(bytes.data(), bytes.size() - 8) == stored_checksum,
              "{}: memory bank checksum mismatch (file corrupt or truncated); refit the bank",
              where);
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data() + 12, sizeof(header_size));
  VIGIL_CHECK(header_size <= bytes.size() - kFixed - 8, "{}: memory bank header size is corrupt",
              where);
  MemoryBank bank;
  size_t offset = kFixed + header_size;
  try {
    const json header = json::parse(bytes.begin() + kFixed, bytes.begin() + offset);
    bank.method = header.at("method").get<std::string>();
    const json& b = header.at("backbone");
    bank.backbone.file_name = b.at("file_name").get<std::string>();
    const json& file_size = b.at("file_size");
    VIGIL_CHECK(file_size.is_number_unsigned(), "{}: memory bank backbone file_size is not a size",
                where);
    bank.backbone.file_size = file_size.get<uint64_t>();
    bank.backbone.content_hash = b.at("content_hash").get<std::string>();
    bank.backbone_path = b.at("path").get<std::string>();
    bank.preprocessing = PreprocessingFromJson(header.at("preprocessing"));
    bank.method_options = header.at("method_options");
    bank.train_images = header.at("train_images").get<std::vector<std::string>>();
    for (const json& a : header.at("arrays")) {
      BankArray array;
      array.name = a.at("name").get<std::string>();
      array.shape = a.at("shape").get<std::vector<int64_t>>();
      bank.arrays.push_back(std::move(array));
    }
  } catch (const json::exception& e) {
    ThrowError(fmt::format("{}: memory bank header is invalid ({})", where, e.what()));
  }
  for (BankArray& a : bank.arrays) {
    // The element count must fit the bytes left in the file; checked per dimension before the
    // multiplication, since a forged shape ([2^39, 2^39]) would otherwise overflow int64 (UB)
    // and wrap to a small count that passes the size check.
    const size_t available = (bytes.size() - 8 - offset) / 4;
    size_t count = 1;
    bool any_zero = false;
    for (int64_t d : a.shape) {
      VIGIL_CHECK(d >= 0 && d < (int64_t{1} << 40), "{}: array '{}' has a bad shape", where,
                  a.name);
      if (d == 0) any_zero = true;
      if (any_zero) continue;
      VIGIL_CHECK(static_cast<size_t>(d) <= available / count,
                  "{}: memory bank is truncated inside array '{}'", where, a.name);
      count *= static_cast<size_t>(d);
    }
    if (any_zero) count = 0;
    const size_t size = count * 4;
    VIGIL_CHECK(size <= bytes.size() - 8 - offset, "{}: memory bank is truncated inside array '{}'",
                where, a.name);
    a.data.resize(count);
    // An empty array has no buffer: memcpy from/to null is undefined even for 0 bytes.
    if (size > 0) std::memcpy(a.data.data(), bytes.data() + offset, size);
    offset += size;
  }
  VIGIL_CHECK(offset == bytes.size() - 8, "{}: memory bank has {} unexpected trailing bytes", where,
              bytes.size() - 8 - offset);
  return bank;
}

void CheckBankMatchesModel(const MemoryBank& bank, const BackboneIdentity& have,
                           const std::string& bank_path) {
  VIGIL_CHECK(bank.backbone == have,
              "{}: bank was fitted with backbone {} ({} bytes, hash {}) but the given backbone is "
              "{} ({} bytes, hash {}); use the same model or refit the bank",
              bank_path, bank.backbone.file_name, bank.backbone.file_size,
              bank.backbone.content_hash, have.file_name, have.file_size, have.content_hash);
}

void CheckBankMatchesBackbone(const MemoryBank& bank, const Backbone& backbone,
                              const std::string& bank_path) {
  CheckBankMatchesModel(bank, backbone.identity(), bank_path);
  const json fitted = PreprocessingToJson(bank.preprocessing);
  const json now = PreprocessingToJson(backbone.options());
  for (const auto& [key, value] : fitted.items()) {
    VIGIL_CHECK(now.at(key) == value,
                "{}: bank was fitted with preprocessing {} = {} but the backbone now uses {}; "
                "use the same settings or refit the bank",
                bank_path, key, value.dump(), now.at(key).dump());
  }
}

}  // namespace vigil::spade
