// Checked access to a parsed JSON document of untrusted origin (calibration.json, a resumed
// run's per-query JSON): every failure is a vigil::Error that names the source (a file, or what
// the document is) and the field's path ("dense.threshold", "anomalies[2].bbox"), so a damaged
// file is found by its message. nlohmann's own accessors are not used for the checks: their
// type errors name neither, and get<int>() of 1e12 silently wraps.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace vigil {

// A JSON file parsed; throws vigil::Error "<file>: not valid JSON (<why>)" when it is not, or
// naming the file when it cannot be read. The one place that turns nlohmann's parse errors into
// a message that names the file.
nlohmann::json ReadJsonFile(const std::filesystem::path& path);

class JsonReader {
 public:
  explicit JsonReader(std::string source) : source_(std::move(source)) {}

  // object[key]; `where` is the object's own path ("" at the top).
  const nlohmann::json& Field(const nlohmann::json& object, const std::string& key,
                              const std::string& where = "") const;
  double Double(const nlohmann::json& object, const std::string& key, const std::string& where = "") const;
  int Int(const nlohmann::json& object, const std::string& key, const std::string& where = "") const;
  bool Bool(const nlohmann::json& object, const std::string& key, const std::string& where = "") const;
  std::string String(const nlohmann::json& object, const std::string& key,
                     const std::string& where = "") const;
  // A string, or "" for null.
  std::string StringOrNull(const nlohmann::json& object, const std::string& key,
                           const std::string& where = "") const;

  // A value already found, named by its full path `name`.
  double DoubleValue(const nlohmann::json& v, const std::string& name) const;
  double NullableDouble(const nlohmann::json& v, const std::string& name) const;  // null: NaN
  // An integer in [lo, hi] (hi < INT64_MAX). JSON's non-negative integers arrive unsigned: one
  // above INT64_MAX must not wrap into a negative one.
  int64_t IntValue(const nlohmann::json& v, const std::string& name, int64_t lo, int64_t hi) const;

  // "where.key", or "key" at the top.
  static std::string Path(const std::string& where, const std::string& key);
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace vigil
