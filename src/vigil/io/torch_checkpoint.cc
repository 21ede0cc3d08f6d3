// PyTorch checkpoint reader: a small, non-executing pickle VM plus the two container formats.
//
// Safety model: the input is untrusted. The VM never calls anything; "calls" (REDUCE, NEWOBJ)
// of the few classes a state_dict needs are interpreted, calls of unknown torch classes are
// rejected, and calls of other classes (argparse.Namespace, numpy scalars, ...) become opaque
// values that the flattening step skips. All objects live in one arena indexed by integers, so
// cyclic structures built through the memo cannot leak or recurse forever; every length, count,
// offset and product is checked before it is used.
#include "vigil/io/torch_checkpoint.h"

#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <unordered_map>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::io {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
    case DType::kInt16: return "int16";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
  }
  return "unknown";
}

namespace {

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::vector<std::string> StateDict::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(tensors_.size());
  for (const auto& [key, value] : tensors_) keys.push_back(key);
  return keys;
}

const nn::Tensor& StateDict::Get(const std::string& key) const {
  auto it = tensors_.find(key);
  VIGIL_CHECK(it != tensors_.end(), "{}: missing tensor '{}'", source_, key);
  return it->second.tensor;
}

const nn::Tensor& StateDict::Get(const std::string& key,
                                 const std::vector<int64_t>& expected_shape) const {
  const nn::Tensor& t = Get(key);
  VIGIL_CHECK(t.shape == expected_shape, "{}: tensor '{}' has shape {}, expected {}", source_, key,
              ShapeToString(t.shape), ShapeToString(expected_shape));
  return t;
}

DType StateDict::GetDType(const std::string& key) const {
  auto it = tensors_.find(key);
  VIGIL_CHECK(it != tensors_.end(), "{}: missing tensor '{}'", source_, key);
  return it->second.dtype;
}

nn::Tensor& StateDict::GetMutable(const std::string& key) {
  auto it = tensors_.find(key);
  VIGIL_CHECK(it != tensors_.end(), "{}: missing tensor '{}'", source_, key);
  return it->second.tensor;
}

void StateDict::StripPrefix(const std::string& prefix) {
  std::map<std::string, CheckpointTensor> renamed;
  for (auto& [key, value] : tensors_) {
    std::string name = key.compare(0, prefix.size(), prefix) == 0 ? key.substr(prefix.size()) : key;
    VIGIL_CHECK(renamed.count(name) == 0,
                "{}: stripping prefix '{}' makes two tensors named '{}'", source_, prefix, name);
    renamed.emplace(std::move(name), std::move(value));
  }
  tensors_ = std::move(renamed);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Limits. They are far above anything a real state_dict needs and keep a hostile file from
// asking for unbounded memory or time.
constexpr int kMaxFlattenDepth = 64;           // nesting of dicts inside the state_dict
constexpr int64_t kMaxFlattenVisits = 1 << 22;  // dict entries visited while flattening
constexpr size_t kMaxKeyBytes = size_t{1} << 26;  // total length of the flattened tensor names
constexpr size_t kMaxPickleObjects = size_t{1} << 22;  // values one pickle may create
constexpr int kMaxTensorDims = 64;
// The float32 output may exceed the file size only through shared storages; cap it at
// max(64M elements, 4 x the input size in bytes).
constexpr int64_t kMinOutputElements = int64_t{1} << 26;

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64: return 8;
    case DType::kFloat32:
    case DType::kInt32: return 4;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16: return 2;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool: return 1;
  }
  return 1;
}

std::optional<DType> StorageDType(const std::string& module, const std::string& name) {
  if (module != "torch") return std::nullopt;
  static const std::pair<const char*, DType> kTypes[] = {
      {"FloatStorage", DType::kFloat32},  {"HalfStorage", DType::kFloat16},
      {"DoubleStorage", DType::kFloat64}, {"BFloat16Storage", DType::kBFloat16},
      {"LongStorage", DType::kInt64},     {"IntStorage", DType::kInt32},
      {"ShortStorage", DType::kInt16},    {"CharStorage", DType::kInt8},
      {"ByteStorage", DType::kUInt8},     {"BoolStorage", DType::kBool},
      {"UntypedStorage", DType::kUInt8}};
  for (const auto& [type_name, dtype] : kTypes) {
    if (name == type_name) return dtype;
  }
  return std::nullopt;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T LoadLE(const char* p) {
  // All supported hosts are little-endian, like the files (checked on load).
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

float ElementToFloat(DType dtype, const char* p) {
  switch (dtype) {
    case DType::kFloat32: return LoadLE<float>(p);
    case DType::kFloat16: return HalfToFloat(LoadLE<uint16_t>(p));
    case DType::kBFloat16: {
      uint32_t bits = static_cast<uint32_t>(LoadLE<uint16_t>(p)) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DType::kFloat64: return static_cast<float>(LoadLE<double>(p));
    case DType::kInt64: return static_cast<float>(LoadLE<int64_t>(p));
    case DType::kInt32: return static_cast<float>(LoadLE<int32_t>(p));
    case DType::kInt16: return static_cast<float>(LoadLE<int16_t>(p));
    case DType::kInt8: return static_cast<float>(LoadLE<int8_t>(p));
    case DType::kUInt8: return static_cast<float>(LoadLE<uint8_t>(p));
    case DType::kBool: return *p != 0 ? 1.f : 0.f;
  }
  return 0.f;
}

bool CheckedMul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool CheckedAdd(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// ---------------------------------------------------------------------------------------------
// Pickle values.

using Ref = uint32_t;  // index into the VM's arena

enum class Kind {
  kNone, kBool, kInt, kBigInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal,
  kStorage, kTensor, kOpaque
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kBigInt: return "long int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "class";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
    case Kind::kOpaque: return "object";
  }
  return "?";
}

struct Object {
  Kind kind = Kind::kNone;
  int64_t i = 0;                             // bool/int; storage/tensor index
  double f = 0;                              // float
  std::string s;                             // str/bytes/bigint bytes/global module
  std::string s2;                            // global name
  std::vector<Ref> items;                    // tuple/list; dict as key,value,key,value...
};

// A storage as referenced from the pickle (persistent id).
struct StorageRef {
  std::string key;
  DType dtype = DType::kFloat32;
  int64_t numel = 0;        // elements of the root storage
  int64_t view_offset = 0;  // legacy views: element offset into the root storage
  int64_t view_size = -1;   // legacy views: elements in the view (-1: whole storage)
};

struct TensorRef {
  int64_t storage = 0;  // index into Pickle::storages
  int64_t offset = 0;
  std::vector<int64_t> size;
  std::vector<int64_t> stride;
};

// The result of running the VM on one pickle.
struct Pickle {
  std::vector<Object> arena;
  std::vector<StorageRef> storages;
  std::vector<TensorRef> tensors;
  Ref root = 0;
};

class PickleVM {
 public:
  // `base` is where the pickle starts in the file, for error messages.
  PickleVM(const std::string& name, const char* data, size_t size, size_t base = 0)
      : name_(name), data_(data), size_(size), base_(base) {}

  // Runs until STOP. `legacy` selects the legacy persistent-id layout (with view metadata).
  Pickle Run(bool legacy) {
    legacy_ = legacy;
    while (true) {
      const size_t op_pos = pos_;
      const uint8_t op = ReadByte();
      if (op == '.') break;  // STOP
      Execute(op, op_pos);
    }
    VIGIL_CHECK(stack_.size() == 1 && marks_.empty(),
                "{}: malformed pickle (stack holds {} values at STOP)", name_, stack_.size());
    result_.root = stack_.back();
    return std::move(result_);
  }

  size_t position() const { return pos_; }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    ThrowError(fmt::format("{}: {} (at offset {})", name_, what, base_ + pos_));
  }

  void Need(size_t n) const {
    if (n > size_ - pos_) {
      ThrowError(fmt::format("{}: truncated file (pickle needs {} bytes at offset {}, {} left)",
                             name_, n, base_ + pos_, size_ - pos_));
    }
  }
  uint8_t ReadByte() {
    Need(1);
    return static_cast<uint8_t>(data_[pos_++]);
  }
  template <typename T>
  T ReadLE() {
    Need(sizeof(T));
    T v = LoadLE<T>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string ReadBytes(uint64_t n) {
    if (n > size_ - pos_) {
      ThrowError(fmt::format("{}: truncated file (pickle string of {} bytes at offset {}, {} left)",
                             name_, n, base_ + pos_, size_ - pos_));
    }
    std::string s(data_ + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string ReadLine() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) Fail("truncated file (unterminated text argument)");
    const size_t end = static_cast<const char*>(nl) - data_;
    std::string s(data_ + pos_, end - pos_);
    pos_ = end + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }

  Ref New(Object obj) {
    if (result_.arena.size() >= kMaxPickleObjects) {
      Fail(fmt::format("pickle creates more than {} objects", kMaxPickleObjects));
    }
    result_.arena.push_back(std::move(obj));
    return static_cast<Ref>(result_.arena.size() - 1);
  }
  Ref NewInt(int64_t v) {
    Object o;
    o.kind = Kind::kInt;
    o.i = v;
    return New(std::move(o));
  }
  Ref NewKind(Kind kind) {
    Object o;
    o.kind = kind;
    return New(std::move(o));
  }
  Object& Get(Ref r) { return result_.arena[r]; }

  void Push(Ref r) { stack_.push_back(r); }
  Ref Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      Fail("malformed pickle (stack underflow)");
    }
    Ref r = stack_.back();
    stack_.pop_back();
    return r;
  }
  Ref& Top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      Fail("malformed pickle (stack underflow)");
    }
    return stack_.back();
  }
  std::vector<Ref> PopMark() {
    if (marks_.empty()) Fail("malformed pickle (no MARK)");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }

  void Memo(uint64_t index) {
    if (stack_.empty()) Fail("malformed pickle (PUT on empty stack)");
    memo_[index] = stack_.back();
  }
  void Recall(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) Fail(fmt::format("malformed pickle (memo index {} not set)", index));
    Push(it->second);
  }

  Ref MakeSequence(Kind kind, std::vector<Ref> items) {
    Object o;
    o.kind = kind;
    o.items = std::move(items);
    return New(std::move(o));
  }

  Object& Container(Ref r, Kind kind, const char* op) {
    Object& o = Get(r);
    // Sets are kept as lists; appending to either is fine.
    if (o.kind != kind) {
      Fail(fmt::format("malformed pickle ({} on a {}, expected a {})", op, KindName(o.kind),
                       KindName(kind)));
    }
    return o;
  }

  int64_t AsInt(Ref r, const char* what) {
    const Object& o = Get(r);
    if (o.kind != Kind::kInt && o.kind != Kind::kBool) {
      Fail(fmt::format("{} is a {}, expected an int", what, KindName(o.kind)));
    }
    return o.i;
  }
  const std::string& AsString(Ref r, const char* what) {
    const Object& o = Get(r);
    if (o.kind != Kind::kString && o.kind != Kind::kBytes) {
      Fail(fmt::format("{} is a {}, expected a string", what, KindName(o.kind)));
    }
    return o.s;
  }
  std::vector<int64_t> AsIntTuple(Ref r, const char* what) {
    const Object& o = Get(r);
    if (o.kind != Kind::kTuple && o.kind != Kind::kList) {
      Fail(fmt::format("{} is a {}, expected a tuple", what, KindName(o.kind)));
    }
    if (o.items.size() > static_cast<size_t>(kMaxTensorDims)) {
      Fail(fmt::format("{} has {} entries (at most {} supported)", what, o.items.size(),
                       kMaxTensorDims));
    }
    std::vector<int64_t> v;
    for (Ref item : o.items) v.push_back(AsInt(item, what));
    return v;
  }
  const std::vector<Ref>& Args(Ref r, const std::string& callee, size_t min_count) {
    const Object& o = Get(r);
    if (o.kind != Kind::kTuple) {
      Fail(fmt::format("arguments of {} are a {}, expected a tuple", callee, KindName(o.kind)));
    }
    if (o.items.size() < min_count) {
      Fail(fmt::format("{} called with {} arguments, expected at least {}", callee,
                       o.items.size(), min_count));
    }
    return o.items;
  }

  // persistent_load: ('storage', storage_type, key, location, numel[, view_metadata]).
  Ref PersistentLoad(Ref pid_ref) {
    const Object& pid = Get(pid_ref);
    if (pid.kind != Kind::kTuple || pid.items.empty()) {
      Fail(fmt::format("unsupported persistent id (a {})", KindName(pid.kind)));
    }
    const std::vector<Ref> items = pid.items;
    const std::string tag = AsString(items[0], "persistent id tag");
    if (tag == "module") return NewKind(Kind::kOpaque);  // legacy: source of a saved module
    if (tag != "storage") Fail(fmt::format("unsupported persistent id '{}'", tag));
    if (items.size() < 5) Fail("storage persistent id has fewer than 5 fields");
    const Object& type = Get(items[1]);
    if (type.kind != Kind::kGlobal) Fail("storage persistent id without a storage type");
    std::optional<DType> dtype = StorageDType(type.s, type.s2);
    if (!dtype) Fail(fmt::format("unsupported storage type '{}.{}'", type.s, type.s2));
    StorageRef storage;
    storage.dtype = *dtype;
    storage.key = AsString(items[2], "storage key");
    storage.numel = AsInt(items[4], "storage size");
    if (storage.numel < 0) Fail(fmt::format("storage '{}' has negative size", storage.key));
    if (legacy_ && items.size() >= 6 && Get(items[5]).kind != Kind::kNone) {
      const Object& view = Get(items[5]);
      if (view.kind != Kind::kTuple || view.items.size() < 3) Fail("malformed storage view");
      const std::vector<Ref> v = view.items;
      storage.view_offset = AsInt(v[1], "storage view offset");
      storage.view_size = AsInt(v[2], "storage view size");
      int64_t end = 0;
      if (storage.view_offset < 0 || storage.view_size < 0 ||
          !CheckedAdd(storage.view_offset, storage.view_size, &end) || end > storage.numel) {
        Fail(fmt::format("storage '{}': view [{}, +{}) outside its {} elements", storage.key,
                         storage.view_offset, storage.view_size, storage.numel));
      }
    }
    Object o;
    o.kind = Kind::kStorage;
    o.i = static_cast<int64_t>(result_.storages.size());
    result_.storages.push_back(std::move(storage));
    return New(std::move(o));
  }

  Ref RebuildTensor(const std::vector<Ref>& args, const std::string& callee) {
    const Object& storage = Get(args[0]);
    if (storage.kind != Kind::kStorage) {
      Fail(fmt::format("{}: first argument is a {}, expected a storage", callee,
                       KindName(storage.kind)));
    }
    TensorRef t;
    t.storage = storage.i;
    t.offset = AsInt(args[1], "tensor storage offset");
    t.size = AsIntTuple(args[2], "tensor size");
    t.stride = AsIntTuple(args[3], "tensor stride");
    if (t.size.size() != t.stride.size()) {
      Fail(fmt::format("tensor size {} and stride {} differ in length", ShapeToString(t.size),
                       ShapeToString(t.stride)));
    }
    Object o;
    o.kind = Kind::kTensor;
    o.i = static_cast<int64_t>(result_.tensors.size());
    result_.tensors.push_back(std::move(t));
    return New(std::move(o));
  }

  // REDUCE / NEWOBJ: interprets the calls a state_dict makes.
  Ref Call(Ref callable_ref, Ref args_ref) {
    const Object& callable = Get(callable_ref);
    if (callable.kind != Kind::kGlobal) {
      Fail(fmt::format("malformed pickle (call of a {})", KindName(callable.kind)));
    }
    const std::string module = callable.s;
    const std::string name = callable.s2;
    const std::string full = module + "." + name;
    if (full == "collections.OrderedDict" || full == "builtins.dict" || full == "__builtin__.dict") {
      return NewKind(Kind::kDict);  // items arrive later through SETITEM(S)
    }
    if (full == "torch._utils._rebuild_tensor_v2" || full == "torch._utils._rebuild_tensor") {
      return RebuildTensor(Args(args_ref, full, 4), full);
    }
    if (full == "torch._utils._rebuild_parameter" ||
        full == "torch._utils._rebuild_parameter_with_state" || full == "torch.Size" ||
        full == "torch.nn.parameter.Parameter") {
      return Args(args_ref, full, 1)[0];  // the tensor (or tuple) itself
    }
    if (full == "torch._tensor._rebuild_from_type_v2") {
      // (func, new_type, args, state): a Parameter subclass; rebuild through func(args).
      const std::vector<Ref> a = Args(args_ref, full, 3);
      if (++call_depth_ > 8) Fail("malformed pickle (nested _rebuild_from_type_v2)");
      const Ref r = Call(a[0], a[2]);
      --call_depth_;
      return r;
    }
    if (module.rfind("torch", 0) == 0 || module.rfind("__torch__", 0) == 0) {
      Fail(fmt::format("unsupported class '{}' (not a plain state_dict?)", full));
    }
    return NewKind(Kind::kOpaque);  // e.g. argparse.Namespace in a training checkpoint
  }

  void Execute(uint8_t op, size_t op_pos) {
    switch (op) {
      case 0x80: ReadByte(); break;                // PROTO
      case 0x95: ReadLE<uint64_t>(); break;        // FRAME (the data follows inline)
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': Pop(); break;                      // POP
      case '1': PopMark(); break;                  // POP_MARK
      case '2': Push(Top()); break;                // DUP
      case 'N': Push(NewKind(Kind::kNone)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE / NEWFALSE
        Object o;
        o.kind = Kind::kBool;
        o.i = op == 0x88;
        Push(New(std::move(o)));
        break;
      }
      case 'J': Push(NewInt(ReadLE<int32_t>())); break;   // BININT
      case 'K': Push(NewInt(ReadByte())); break;          // BININT1
      case 'M': Push(NewInt(ReadLE<uint16_t>())); break;  // BININT2
      case 0x8a:                                          // LONG1
      case 0x8b: {                                        // LONG4
        const uint64_t n = op == 0x8a ? ReadByte() : ReadLE<uint32_t>();
        const std::string bytes = ReadBytes(n);
        Object o;
        if (n <= 8) {
          uint64_t v = 0;
          for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[k])) << (8 * k);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
          o.kind = Kind::kInt;
          o.i = static_cast<int64_t>(v);
        } else {
          o.kind = Kind::kBigInt;
          o.s = bytes;
        }
        Push(New(std::move(o)));
        break;
      }
      case 'I':  // INT (text; "00"/"01" are False/True)
      case 'L': {  // LONG (text, trailing 'L')
        std::string line = ReadLine();
        if (op == 'L' && !line.empty() && line.back() == 'L') line.pop_back();
        Object o;
        o.kind = Kind::kInt;
        if (line == "00" || line == "01") {
          o.kind = Kind::kBool;
          o.i = line == "01";
        } else {
          char* end = nullptr;
          errno = 0;
          o.i = std::strtoll(line.c_str(), &end, 10);
          if (line.empty() || end != line.c_str() + line.size() || errno != 0) {
            Fail(fmt::format("malformed pickle (bad integer '{}')", line.substr(0, 40)));
          }
        }
        Push(New(std::move(o)));
        break;
      }
      case 'G': {  // BINFLOAT (big-endian)
        Need(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(data_[pos_ + k]);
        pos_ += 8;
        Object o;
        o.kind = Kind::kFloat;
        std::memcpy(&o.f, &bits, 8);
        Push(New(std::move(o)));
        break;
      }
      case 'F': {  // FLOAT (text)
        const std::string line = ReadLine();
        Object o;
        o.kind = Kind::kFloat;
        o.f = std::strtod(line.c_str(), nullptr);
        Push(New(std::move(o)));
        break;
      }
      case 'X': case 0x8c: case 0x8d:  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
      case 'T': case 'U':              // BINSTRING, SHORT_BINSTRING
      case 'B': case 'C': case 0x8e:   // BINBYTES, SHORT_BINBYTES, BINBYTES8
      case 0x96: {                     // BYTEARRAY8
        uint64_t n = 0;
        if (op == 0x8c || op == 'U' || op == 'C') {
          n = ReadByte();
        } else if (op == 0x8d || op == 0x8e || op == 0x96) {
          n = ReadLE<uint64_t>();
        } else {
          n = ReadLE<uint32_t>();
        }
        Object o;
        o.kind = (op == 'B' || op == 'C' || op == 0x8e || op == 0x96) ? Kind::kBytes : Kind::kString;
        o.s = ReadBytes(n);
        Push(New(std::move(o)));
        break;
      }
      case ')': Push(MakeSequence(Kind::kTuple, {})); break;  // EMPTY_TUPLE
      case 't': Push(MakeSequence(Kind::kTuple, PopMark())); break;  // TUPLE
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84u;
        std::vector<Ref> items(n);
        for (size_t k = n; k-- > 0;) items[k] = Pop();
        Push(MakeSequence(Kind::kTuple, std::move(items)));
        break;
      }
      case ']': Push(MakeSequence(Kind::kList, {})); break;  // EMPTY_LIST
      case 0x8f: Push(MakeSequence(Kind::kList, {})); break;  // EMPTY_SET (kept as a list)
      case 'l': Push(MakeSequence(Kind::kList, PopMark())); break;  // LIST
      case 0x91: Push(MakeSequence(Kind::kList, PopMark())); break;  // FROZENSET
      case 'a': {  // APPEND
        const Ref item = Pop();
        Container(Top(), Kind::kList, "APPEND").items.push_back(item);
        break;
      }
      case 'e': case 0x90: {  // APPENDS, ADDITEMS
        std::vector<Ref> items = PopMark();
        auto& list = Container(Top(), Kind::kList, "APPENDS").items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case '}': Push(NewKind(Kind::kDict)); break;  // EMPTY_DICT
      case 'd': {  // DICT
        std::vector<Ref> items = PopMark();
        if (items.size() % 2 != 0) Fail("malformed pickle (DICT with an odd number of items)");
        Push(MakeSequence(Kind::kDict, std::move(items)));
        break;
      }
      case 's': {  // SETITEM
        const Ref value = Pop();
        const Ref key = Pop();
        auto& dict = Container(Top(), Kind::kDict, "SETITEM").items;
        dict.push_back(key);
        dict.push_back(value);
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<Ref> items = PopMark();
        if (items.size() % 2 != 0) Fail("malformed pickle (SETITEMS with an odd number of items)");
        auto& dict = Container(Top(), Kind::kDict, "SETITEMS").items;
        dict.insert(dict.end(), items.begin(), items.end());
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        Object o;
        o.kind = Kind::kGlobal;
        o.s = ReadLine();
        o.s2 = ReadLine();
        Push(New(std::move(o)));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const Ref name = Pop();
        const Ref module = Pop();
        Object o;
        o.kind = Kind::kGlobal;
        o.s = AsString(module, "STACK_GLOBAL module");
        o.s2 = AsString(name, "STACK_GLOBAL name");
        Push(New(std::move(o)));
        break;
      }
      case 'R': {  // REDUCE
        const Ref args = Pop();
        const Ref callable = Pop();
        Push(Call(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ cls args
        const Ref args = Pop();
        const Ref cls = Pop();
        Push(Call(cls, args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX cls args kwargs
        Pop();
        const Ref args = Pop();
        const Ref cls = Pop();
        Push(Call(cls, args));
        break;
      }
      case 'b': {  // BUILD: state for the object below; OrderedDict gets _metadata here
        Pop();
        Top();
        break;
      }
      case 'Q': Push(PersistentLoad(Pop())); break;  // BINPERSID
      case 'P':  // PERSID (text id): torch never writes it
        Fail(fmt::format("unsupported text persistent id '{}'", ReadLine().substr(0, 40)));
      case 'q': Memo(ReadByte()); break;                    // BINPUT
      case 'r': Memo(ReadLE<uint32_t>()); break;            // LONG_BINPUT
      case 0x94: Memo(memo_.size()); break;                 // MEMOIZE
      case 'h': Recall(ReadByte()); break;                  // BINGET
      case 'j': Recall(ReadLE<uint32_t>()); break;          // LONG_BINGET
      case 'p':                                             // PUT (text)
      case 'g': {                                           // GET (text)
        const std::string line = ReadLine();
        char* end = nullptr;
        const unsigned long long index = std::strtoull(line.c_str(), &end, 10);
        if (line.empty() || end != line.c_str() + line.size()) {
          Fail(fmt::format("malformed pickle (bad memo index '{}')", line.substr(0, 40)));
        }
        if (op == 'p') {
          Memo(index);
        } else {
          Recall(index);
        }
        break;
      }
      default:
        pos_ = op_pos;
        Fail(fmt::format("unsupported pickle opcode 0x{:02x}", op));
    }
  }

  const std::string& name_;
  const char* data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
  bool legacy_ = false;
  int call_depth_ = 0;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
  Pickle result_;
};

// ---------------------------------------------------------------------------------------------
// From the pickle's object graph to named tensors.

struct NamedTensor {
  std::string key;
  int64_t tensor;  // index into Pickle::tensors
};

class Flattener {
 public:
  Flattener(const std::string& name, const Pickle& pickle) : name_(name), pickle_(pickle) {}

  std::vector<NamedTensor> Run() {
    const Object& root = pickle_.arena[pickle_.root];
    VIGIL_CHECK(root.kind == Kind::kDict,
                "{}: the checkpoint holds a {}, expected a dict of tensors (a state_dict)", name_,
                KindName(root.kind));
    Visit(pickle_.root, "", 0);
    return std::move(out_);
  }

 private:
  void Visit(Ref dict_ref, const std::string& prefix, int depth) {
    VIGIL_CHECK(depth < kMaxFlattenDepth, "{}: dicts nested more than {} deep at '{}'", name_,
                kMaxFlattenDepth, prefix);
    const std::vector<Ref>& items = pickle_.arena[dict_ref].items;
    for (size_t k = 0; k + 1 < items.size(); k += 2) {
      VIGIL_CHECK(++visits_ <= kMaxFlattenVisits, "{}: more than {} dict entries", name_,
                  kMaxFlattenVisits);
      const Object& value = pickle_.arena[items[k + 1]];
      if (value.kind != Kind::kTensor && value.kind != Kind::kDict) continue;
      const Object& key = pickle_.arena[items[k]];
      std::string name;
      if (key.kind == Kind::kString) {
        name = key.s;
      } else if (key.kind == Kind::kInt) {
        name = std::to_string(key.i);  // e.g. optimizer state indexed by parameter number
      } else {
        continue;
      }
      // Shared sub-dicts and memoised strings can make names grow fast: bound their total.
      key_bytes_ += prefix.size() + 1 + name.size();
      VIGIL_CHECK(key_bytes_ <= kMaxKeyBytes, "{}: tensor names longer than {} bytes in all",
                  name_, kMaxKeyBytes);
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      if (value.kind == Kind::kTensor) {
        out_.push_back({full, value.i});
      } else if (value.kind == Kind::kDict) {
        Visit(items[k + 1], full, depth + 1);
      }
    }
  }

  const std::string& name_;
  const Pickle& pickle_;
  std::vector<NamedTensor> out_;
  int64_t visits_ = 0;
  size_t key_bytes_ = 0;
};

// Raw bytes of one root storage, owned or pointing into the input buffer.
struct StorageBytes {
  DType dtype = DType::kFloat32;
  int64_t numel = 0;
  const char* data = nullptr;
  std::string owned;
};

// Turns the named tensor views into contiguous float32 tensors.
StateDict Materialise(const std::string& name, const Pickle& pickle,
                      const std::vector<NamedTensor>& named,
                      const std::map<std::string, StorageBytes>& storages, size_t input_size) {
  const int64_t max_output =
      std::max<int64_t>(kMinOutputElements, static_cast<int64_t>(std::min<size_t>(
                                                input_size, size_t{1} << 40)) * 4);
  int64_t total = 0;
  std::map<std::string, CheckpointTensor> tensors;
  for (const NamedTensor& nt : named) {
    const TensorRef& t = pickle.tensors[static_cast<size_t>(nt.tensor)];
    const StorageRef& sref = pickle.storages[static_cast<size_t>(t.storage)];
    auto it = storages.find(sref.key);
    VIGIL_CHECK(it != storages.end(), "{}: tensor '{}': storage '{}' is missing", name, nt.key,
                sref.key);
    const StorageBytes& bytes = it->second;
    VIGIL_CHECK(bytes.dtype == sref.dtype,
                "{}: tensor '{}': storage '{}' is used both as {} and as {}", name, nt.key,
                sref.key, DTypeName(bytes.dtype), DTypeName(sref.dtype));
    const int64_t base = sref.view_offset;
    const int64_t available = sref.view_size >= 0 ? sref.view_size : bytes.numel;

    int64_t numel = 1;
    int64_t last = 0;  // largest element index the view touches, relative to its offset
    for (size_t d = 0; d < t.size.size(); ++d) {
      VIGIL_CHECK(t.size[d] >= 0 && t.stride[d] >= 0,
                  "{}: tensor '{}' has a negative size or stride (size {}, stride {})", name,
                  nt.key, ShapeToString(t.size), ShapeToString(t.stride));
      VIGIL_CHECK(CheckedMul(numel, t.size[d], &numel), "{}: tensor '{}': size {} overflows",
                  name, nt.key, ShapeToString(t.size));
    }
    if (numel > 0) {
      for (size_t d = 0; d < t.size.size(); ++d) {
        int64_t span = 0;
        VIGIL_CHECK(CheckedMul(t.size[d] - 1, t.stride[d], &span) && CheckedAdd(last, span, &last),
                    "{}: tensor '{}': strides {} overflow", name, nt.key,
                    ShapeToString(t.stride));
      }
      int64_t end = 0;
      VIGIL_CHECK(t.offset >= 0 && CheckedAdd(t.offset, last, &end) && end < available,
                  "{}: tensor '{}' (offset {}, size {}, stride {}) reads past the end of its "
                  "storage '{}' of {} elements",
                  name, nt.key, t.offset, ShapeToString(t.size), ShapeToString(t.stride),
                  sref.key, available);
    }
    VIGIL_CHECK(CheckedAdd(total, numel, &total) && total <= max_output,
                "{}: tensors hold more than {} elements in all (at tensor '{}')", name,
                max_output, nt.key);

    CheckpointTensor ct;
    ct.dtype = sref.dtype;
    ct.tensor.shape = t.size;
    ct.tensor.data.resize(static_cast<size_t>(numel));
    bool contiguous = true;  // row-major strides (dims of size 1 may have any stride)
    for (int64_t d = static_cast<int64_t>(t.size.size()) - 1, expect = 1; d >= 0; --d) {
      if (t.size[d] != 1 && t.stride[d] != expect) contiguous = false;
      expect *= t.size[d];
    }
    const size_t esize = ElementSize(sref.dtype);
    const char* src = numel > 0 ? bytes.data + static_cast<size_t>(base + t.offset) * esize
                                : nullptr;
    if (numel > 0 && contiguous) {  // the common case: one pass, no index arithmetic
      float* dst = ct.tensor.data.data();
      if (sref.dtype == DType::kFloat32) {
        std::memcpy(dst, src, static_cast<size_t>(numel) * sizeof(float));
      } else {
        for (int64_t n = 0; n < numel; ++n) dst[n] = ElementToFloat(sref.dtype, src + n * esize);
      }
    } else if (numel > 0) {
      const int dims = static_cast<int>(t.size.size());
      std::vector<int64_t> index(static_cast<size_t>(dims), 0);
      int64_t src_offset = 0;
      float* dst = ct.tensor.data.data();
      for (int64_t n = 0; n < numel; ++n) {
        dst[n] = ElementToFloat(sref.dtype, src + static_cast<size_t>(src_offset) * esize);
        for (int d = dims - 1; d >= 0; --d) {  // odometer over the dims, innermost fastest
          if (++index[d] < t.size[d]) {
            src_offset += t.stride[d];
            break;
          }
          src_offset -= (t.size[d] - 1) * t.stride[d];
          index[d] = 0;
        }
      }
    }
    tensors[nt.key] = std::move(ct);  // a repeated key: the later entry wins, as in Python
  }
  return StateDict(name, std::move(tensors));
}

// ---------------------------------------------------------------------------------------------
// Containers.

bool IsLegacyMagic(const Object& o) {
  // 0x1950a86a20f9469cfc6c as a little-endian two's-complement LONG1.
  static const unsigned char kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return o.kind == Kind::kBigInt && o.s.size() == sizeof(kMagic) &&
         std::memcmp(o.s.data(), kMagic, sizeof(kMagic)) == 0;
}

StateDict LoadLegacy(const std::string& bytes, const std::string& name) {
  const char* data = bytes.data();
  size_t pos = 0;
  auto run = [&](const char* what) {
    PickleVM vm(name, data + pos, bytes.size() - pos, pos);
    try {
      Pickle p = vm.Run(/*legacy=*/true);
      pos += vm.position();
      return p;
    } catch (const Error& e) {
      ThrowError(fmt::format("{} [in the {} pickle]", e.what(), what));
    }
  };
  Pickle magic = run("magic-number");
  VIGIL_CHECK(IsLegacyMagic(magic.arena[magic.root]),
              "{}: not a PyTorch checkpoint (pickle without the torch.save magic number)", name);
  Pickle protocol = run("protocol-version");
  const Object& version = protocol.arena[protocol.root];
  VIGIL_CHECK(version.kind == Kind::kInt && version.i == 1001,
              "{}: unsupported legacy checkpoint protocol version", name);
  Pickle sys_info = run("sys-info");
  {
    const Object& info = sys_info.arena[sys_info.root];
    VIGIL_CHECK(info.kind == Kind::kDict, "{}: malformed sys-info record", name);
    for (size_t k = 0; k + 1 < info.items.size(); k += 2) {
      const Object& key = sys_info.arena[info.items[k]];
      const Object& value = sys_info.arena[info.items[k + 1]];
      if (key.kind == Kind::kString && key.s == "little_endian") {
        VIGIL_CHECK(value.kind == Kind::kBool && value.i == 1,
                    "{}: big-endian checkpoints are not supported", name);
      }
    }
  }
  Pickle object = run("object");
  const std::vector<NamedTensor> named = Flattener(name, object).Run();
  Pickle keys = run("storage-keys");
  const Object& key_list = keys.arena[keys.root];
  VIGIL_CHECK(key_list.kind == Kind::kList, "{}: malformed storage key list (a {})", name,
              KindName(key_list.kind));

  // The element type and count of each root storage, from the object pickle.
  std::map<std::string, std::pair<DType, int64_t>> expected;
  for (const StorageRef& s : object.storages) {
    auto [it, inserted] = expected.emplace(s.key, std::make_pair(s.dtype, s.numel));
    VIGIL_CHECK(inserted || (it->second.first == s.dtype && it->second.second == s.numel),
                "{}: storage '{}' is declared with two different types or sizes", name, s.key);
  }
  // Storage keys are opaque numbers: name a tensor that uses each one in messages.
  std::map<std::string, std::string> user;
  for (const NamedTensor& nt : named) {
    const StorageRef& s = object.storages[static_cast<size_t>(
        object.tensors[static_cast<size_t>(nt.tensor)].storage)];
    user.emplace(s.key, " (tensor '" + nt.key + "')");
  }
  std::map<std::string, StorageBytes> storages;
  for (Ref r : key_list.items) {
    const Object& k = keys.arena[r];
    VIGIL_CHECK(k.kind == Kind::kString, "{}: malformed storage key list", name);
    auto it = expected.find(k.s);
    VIGIL_CHECK(it != expected.end(), "{}: storage '{}' is listed but never used", name, k.s);
    VIGIL_CHECK(storages.count(k.s) == 0, "{}: storage '{}' is listed twice", name, k.s);
    const std::string& used_by = user[k.s];
    VIGIL_CHECK(bytes.size() - pos >= 8,
                "{}: truncated file (size of storage '{}'{} missing at offset {})", name, k.s,
                used_by, pos);
    const int64_t count = LoadLE<int64_t>(data + pos);
    pos += 8;
    VIGIL_CHECK(count == it->second.second,
                "{}: storage '{}'{} has {} elements in the file but {} in the pickle (corrupted "
                "storage size at offset {})",
                name, k.s, used_by, count, it->second.second, pos - 8);
    const uint64_t esize = ElementSize(it->second.first);
    const uint64_t left = bytes.size() - pos;
    VIGIL_CHECK(static_cast<uint64_t>(count) <= left / esize,
                "{}: truncated file (storage '{}'{} needs {} bytes at offset {}, {} left)", name,
                k.s, used_by, static_cast<uint64_t>(count) * esize, pos, left);
    StorageBytes sb;
    sb.dtype = it->second.first;
    sb.numel = count;
    sb.data = data + pos;
    pos += static_cast<size_t>(count) * esize;
    storages.emplace(k.s, std::move(sb));
  }
  return Materialise(name, object, named, storages, bytes.size());
}

// RAII for libzip handles.
struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string ReadZipEntry(zip_t* zip, zip_int64_t index, const std::string& entry,
                         uint64_t expected_size, const std::string& name, size_t input_size) {
  zip_stat_t st;
  zip_stat_init(&st);
  VIGIL_CHECK(zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &st) == 0 &&
                  (st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE),
              "{}: cannot read zip entry '{}'", name, entry);
  VIGIL_CHECK(st.size == expected_size,
              "{}: zip entry '{}' has {} bytes, expected {} (corrupted storage size)", name, entry,
              st.size, expected_size);
  // A stored entry cannot be larger than the archive; deflate expands at most ~1032x.
  VIGIL_CHECK(st.comp_size <= input_size && st.size / 1032 <= st.comp_size,
              "{}: zip entry '{}' declares {} bytes from {} compressed (corrupted archive)", name,
              entry, st.size, st.comp_size);
  std::unique_ptr<zip_file_t, ZipFileCloser> file(
      zip_fopen_index(zip, static_cast<zip_uint64_t>(index), 0));
  VIGIL_CHECK(file != nullptr, "{}: cannot open zip entry '{}': {}", name, entry,
              zip_strerror(zip));
  // Grow the buffer as data arrives, so a lying header cannot make us allocate up front.
  const size_t total = static_cast<size_t>(st.size);
  std::string out;
  size_t done = 0;
  while (done < total) {
    out.resize(done + std::min<size_t>(total - done, size_t{1} << 24));
    const zip_int64_t n = zip_fread(file.get(), out.data() + done, out.size() - done);
    VIGIL_CHECK(n > 0, "{}: cannot read zip entry '{}' ({} of {} bytes): {}", name, entry, done,
                total, n < 0 ? zip_file_strerror(file.get()) : "unexpected end");
    done += static_cast<size_t>(n);
  }
  // libzip checks the entry's CRC only when a read hits its end: ask for one more byte.
  char extra;
  const zip_int64_t tail = zip_fread(file.get(), &extra, 1);
  VIGIL_CHECK(tail == 0, "{}: cannot read zip entry '{}': {}", name, entry,
              tail < 0 ? zip_file_strerror(file.get()) : "longer than its header says");
  return out;
}

StateDict LoadZip(const std::string& bytes, const std::string& name) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  VIGIL_CHECK(source != nullptr, "{}: cannot read zip archive: {}", name,
              zip_error_strerror(&error));
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open_from_source(source, ZIP_RDONLY, &error));
  if (!zip) {
    zip_source_free(source);
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    ThrowError(fmt::format("{}: corrupted zip archive: {}", name, message));
  }
  zip_error_fini(&error);

  // The archive's top folder is named after the file it was saved as: find "<folder>/data.pkl".
  const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
  std::string prefix;
  zip_int64_t pickle_index = -1;
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* entry = zip_get_name(zip.get(), static_cast<zip_uint64_t>(i), 0);
    if (entry == nullptr) continue;
    const std::string e = entry;
    const size_t slash = e.find('/');
    if (slash != std::string::npos && e.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = e.substr(0, slash + 1);
      pickle_index = i;
      break;
    }
  }
  VIGIL_CHECK(pickle_index >= 0,
              "{}: zip archive without '<folder>/data.pkl' (not a PyTorch checkpoint)", name);
  {
    const zip_int64_t bo = zip_name_locate(zip.get(), (prefix + "byteorder").c_str(), 0);
    if (bo >= 0) {
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(bo), 0, &st) == 0 && st.size <= 16) {
        const std::string order = ReadZipEntry(zip.get(), bo, prefix + "byteorder", st.size, name,
                                               bytes.size());
        VIGIL_CHECK(order == "little", "{}: byte order '{}' is not supported", name, order);
      }
    }
  }
  zip_stat_t st;
  zip_stat_init(&st);
  VIGIL_CHECK(zip_stat_index(zip.get(), static_cast<zip_uint64_t>(pickle_index), 0, &st) == 0,
              "{}: cannot read '{}data.pkl'", name, prefix);
  const std::string pkl = ReadZipEntry(zip.get(), pickle_index, prefix + "data.pkl", st.size, name,
                                       bytes.size());
  Pickle object;
  try {
    object = PickleVM(name, pkl.data(), pkl.size()).Run(/*legacy=*/false);
  } catch (const Error& e) {
    ThrowError(fmt::format("{} [in {}data.pkl]", e.what(), prefix));
  }
  const std::vector<NamedTensor> named = Flattener(name, object).Run();

  // Read each storage that a named tensor uses, once.
  std::map<std::string, StorageBytes> storages;
  for (const NamedTensor& nt : named) {
    const TensorRef& t = object.tensors[static_cast<size_t>(nt.tensor)];
    const StorageRef& s = object.storages[static_cast<size_t>(t.storage)];
    if (storages.count(s.key) != 0) continue;
    const std::string entry = prefix + "data/" + s.key;
    const zip_int64_t index = zip_name_locate(zip.get(), entry.c_str(), 0);
    VIGIL_CHECK(index >= 0, "{}: tensor '{}': storage '{}' is missing from the archive", name,
                nt.key, entry);
    const uint64_t esize = ElementSize(s.dtype);
    VIGIL_CHECK(static_cast<uint64_t>(s.numel) <= bytes.size() * uint64_t{1032} / esize,
                "{}: tensor '{}': storage '{}' declares {} elements, more than the archive can hold",
                name, nt.key, s.key, s.numel);
    StorageBytes sb;
    sb.dtype = s.dtype;
    sb.numel = s.numel;
    sb.owned = ReadZipEntry(zip.get(), index, entry, static_cast<uint64_t>(s.numel) * esize, name,
                            bytes.size());
    storages.emplace(s.key, std::move(sb));
  }
  for (auto& [key, sb] : storages) sb.data = sb.owned.data();
  return Materialise(name, object, named, storages, bytes.size());
}

}  // namespace

StateDict LoadTorchCheckpointFromMemory(const std::string& bytes, const std::string& name) {
  VIGIL_CHECK(!bytes.empty(), "{}: empty file (not a PyTorch checkpoint)", name);
  if (bytes.size() >= 4 && bytes.compare(0, 2, "PK") == 0 &&
      (bytes.compare(2, 2, "\x03\x04") == 0 || bytes.compare(2, 2, "\x05\x06") == 0)) {
    return LoadZip(bytes, name);
  }
  if (static_cast<uint8_t>(bytes[0]) == 0x80) return LoadLegacy(bytes, name);
  if (bytes.size() >= 262 && bytes.compare(257, 5, "ustar") == 0) {
    ThrowError(fmt::format("{}: tar-based checkpoint (PyTorch < 0.4) is not supported; re-save "
                           "it with a newer PyTorch",
                           name));
  }
  std::string head;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) {
    head += fmt::format("{:02x}", static_cast<uint8_t>(bytes[i]));
  }
  ThrowError(fmt::format("{}: not a PyTorch checkpoint (unknown format, first bytes {})", name,
                         head));
}

StateDict LoadTorchCheckpoint(const std::filesystem::path& path) {
  return LoadTorchCheckpointFromMemory(ReadFileToString(path), path.string());
}

}  // namespace vigil::io
