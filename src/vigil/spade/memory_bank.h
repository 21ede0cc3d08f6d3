// The saved memory bank of SPADE / PatchCore: everything `vigil spade score` needs to score new
// images without the train folder, in one binary file.
//
// File layout (little-endian):
//   8 bytes   magic "VIGILMB\0"
//   uint32    format version (kMemoryBankFormatVersion)
//   uint64    n = size of the JSON header in bytes, then n bytes of JSON: method, backbone
//             identity (model file name, size, FNV-1a 64 content hash) and the path it was fitted
//             with, preprocessing (taps, input size, channel order, scale/mean/stddev), the
//             method's options, the train image names, and the list of arrays {name, shape}
//   float32   the arrays' data, in the order listed
//   uint64    FNV-1a 64 checksum of every preceding byte
// Written atomically (temporary file + rename). Loading refuses a wrong magic, an unknown
// version, a checksum mismatch or a truncated file with a message naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/spade/backbone.h"

namespace vigil::spade {

inline constexpr uint32_t kMemoryBankFormatVersion = 1;

struct BankArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct MemoryBank {
  std::string method;             // "spade" | "patchcore"
  BackboneIdentity backbone;      // which ONNX file produced the features
  std::string backbone_path;      // where that file was at fit time (a default for scoring)
  BackboneOptions preprocessing;  // taps, input size and normalisation used at fit time
  nlohmann::json method_options;  // the detector's fit-time options, for the record
  std::vector<std::string> train_images;
  std::vector<BankArray> arrays;

  // The array called `name`; throws naming the bank's method when it is absent.
  const BankArray& Get(const std::string& name) const;
  BankArray& Add(std::string name, std::vector<int64_t> shape);
};

void SaveMemoryBank(const std::filesystem::path& path, const MemoryBank& bank);
MemoryBank LoadMemoryBank(const std::filesystem::path& path);

// Throws a one-line vigil::Error when `backbone` (model bytes, taps, input size,
// normalisation) differs from the one the bank was fitted with; `bank_path` names the bank.
// The model-file part of the check, usable before the model is loaded.
void CheckBankMatchesModel(const MemoryBank& bank, const BackboneIdentity& model,
                           const std::string& bank_path);
void CheckBankMatchesBackbone(const MemoryBank& bank, const Backbone& backbone,
                              const std::string& bank_path);

}  // namespace vigil::spade
