// Reads PyTorch checkpoints (state_dicts saved with torch.save) without Python, in both formats
// PyTorch has used:
//   * zip (PyTorch >= 1.6): `<archive>/data.pkl` + one raw file per storage `<archive>/data/<key>`;
//   * legacy (pre-1.6, e.g. the official superpoint_v1.pth / superglue_*.pth): magic number,
//     protocol version and sys-info pickles, the object pickle, the list of storage keys, then
//     each storage as an 8-byte element count followed by its raw little-endian data.
// The pickle subset state_dicts use is supported (protocol 2, OrderedDict, nested dicts,
// torch._utils._rebuild_tensor_v2, persistent ids for storages, shared storages with offsets and
// strides, float32/float16/float64/int64/int32/uint8/bool storages). Anything else is rejected
// with an error naming the file and what was found; never a crash. Nothing in the file is ever
// executed: objects of non-torch classes (e.g. argparse.Namespace in a training checkpoint)
// become opaque entries that are skipped; unknown torch classes are errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "vigil/nn/tensor.h"

namespace vigil::io {

enum class DType { kFloat32, kFloat16, kFloat64, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool };
const char* DTypeName(DType dtype);

// One tensor of a checkpoint, converted to float32 (values) and made contiguous.
struct CheckpointTensor {
  DType dtype = DType::kFloat32;  // dtype of the storage in the file
  nn::Tensor tensor;              // values as float32, shape as in the file
};

// The named tensors of a state_dict. Nested dicts are flattened with '.' (e.g. a checkpoint
// {"model": {"conv.weight": ...}} yields "model.conv.weight"); non-tensor entries are skipped.
class StateDict {
 public:
  StateDict() = default;
  StateDict(std::string source, std::map<std::string, CheckpointTensor> tensors)
      : source_(std::move(source)), tensors_(std::move(tensors)) {}

  const std::string& source() const { return source_; }  // the file it was read from
  bool Contains(const std::string& key) const { return tensors_.count(key) != 0; }
  std::vector<std::string> Keys() const;
  size_t size() const { return tensors_.size(); }
  const std::map<std::string, CheckpointTensor>& entries() const { return tensors_; }

  // The tensor under `key`; throws vigil::Error "<file>: missing tensor '<key>'".
  const nn::Tensor& Get(const std::string& key) const;
  // As Get, and checks the shape: "<file>: tensor '<key>' has shape [..], expected [..]".
  const nn::Tensor& Get(const std::string& key, const std::vector<int64_t>& expected_shape) const;
  DType GetDType(const std::string& key) const;
  // Mutable access, e.g. for tests that edit loaded weights.
  nn::Tensor& GetMutable(const std::string& key);
  // Drops a leading prefix such as "module." or "model." from every key that has it.
  void StripPrefix(const std::string& prefix);

 private:
  std::string source_;
  std::map<std::string, CheckpointTensor> tensors_;
};

// Reads a .pth file in either format (detected from its first bytes). Throws vigil::Error naming
// the file on truncated data, an unknown format, an unsupported pickle opcode or class.
StateDict LoadTorchCheckpoint(const std::filesystem::path& path);
// Same, from bytes in memory (`name` is used in error messages). Used by the fuzzer.
StateDict LoadTorchCheckpointFromMemory(const std::string& bytes, const std::string& name);

}  // namespace vigil::io
