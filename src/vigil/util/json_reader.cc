#include "vigil/util/json_reader.h"

#include <cmath>
#include <limits>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil {
using nlohmann::json;

json ReadJsonFile(const std::filesystem::path& path) {
  const std::string text = ReadFileToString(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    ThrowError(fmt::format("{}: not valid JSON ({})", path.string(), e.what()));
  }
}

std::string JsonReader::Path(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

const json& JsonReader::Field(const json& object, const std::string& key, const std::string& where) const {
  VIGIL_CHECK(object.is_object(), "{}: {} is not an object", source_, where);
  const auto it = object.find(key);
  VIGIL_CHECK(it != object.end(), "{}: missing field '{}'", source_, Path(where, key));
  return *it;
}

double JsonReader::DoubleValue(const json& v, const std::string& name) const {
  VIGIL_CHECK(v.is_number() && std::isfinite(v.get<double>()), "{}: field '{}' must be a number", source_,
              name);
  return v.get<double>();
}

double JsonReader::NullableDouble(const json& v, const std::string& name) const {
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  VIGIL_CHECK(v.is_number(), "{}: field '{}' must be a number or null", source_, name);
  return v.get<double>();
}

int64_t JsonReader::IntValue(const json& v, const std::string& name, int64_t lo, int64_t hi) const {
  VIGIL_CHECK(v.is_number_integer(), "{}: field '{}' must be an integer", source_, name);
  const bool fits = !v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(hi);
  const int64_t value = fits ? v.get<int64_t>() : hi + 1;
  VIGIL_CHECK(value >= lo && value <= hi, "{}: field '{}' must be an integer in [{}, {}]", source_, name, lo,
              hi);
  return value;
}

double JsonReader::Double(const json& object, const std::string& key, const std::string& where) const {
  return DoubleValue(Field(object, key, where), Path(where, key));
}

int JsonReader::Int(const json& object, const std::string& key, const std::string& where) const {
  return static_cast<int>(IntValue(Field(object, key, where), Path(where, key),
                                   std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

bool JsonReader::Bool(const json& object, const std::string& key, const std::string& where) const {
  const json& v = Field(object, key, where);
  VIGIL_CHECK(v.is_boolean(), "{}: field '{}' must be true or false", source_, Path(where, key));
  return v.get<bool>();
}

std::string JsonReader::String(const json& object, const std::string& key, const std::string& where) const {
  const json& v = Field(object, key, where);
  VIGIL_CHECK(v.is_string(), "{}: field '{}' must be a string", source_, Path(where, key));
  return v.get<std::string>();
}

std::string JsonReader::StringOrNull(const json& object, const std::string& key, const std::string& where) const {
  const json& v = Field(object, key, where);
  if (v.is_null()) return "";
  VIGIL_CHECK(v.is_string(), "{}: field '{}' must be a string or null", source_, Path(where, key));
  return v.get<std::string>();
}

}  // namespace vigil
