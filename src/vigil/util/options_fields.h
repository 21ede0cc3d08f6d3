// One list of fields per options struct, from which its JSON form (the configuration identity
// that resuming, maps and reports rely on) is derived instead of transcribed by hand.
//
// An options struct declares its fields once:
//
//   struct SuperPointOptions {
//     int nms_radius = 4;                 // pixels
//     float keypoint_threshold = 0.005f;
//     template <class Self, class Visitor>
//     static void Fields(Self& self, Visitor&& visit) {
//       visit("nms_radius", self.nms_radius);
//       visit("keypoint_threshold", self.keypoint_threshold);
//     }
//   };
//
// `Self` is the struct or its const form, so the same list serves reading and writing.
// Supported field types: bool, integers, floating point, std::string, enums with a
// `const char* ToString(E)` and `E Parse(const std::string& name, const std::string& option, E*)`
// (the last argument only selects the overload) found by ADL in the enum's namespace,
// std::vector / std::array of those, and nested structs that have their own Fields().
//
// OptionsToJson(options) gives {"field": value, "nested": {...}}; OptionsFromJson(json, &options)
// sets the fields it names (unknown keys are an error naming the key, so a typo in a saved
// configuration is not silently ignored); ForEachLeafField(options, f) calls f(path, value_json)
// for every scalar field, which is what the field-by-field identity tests iterate over.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/util/check.h"

namespace vigil {

namespace options_detail {

template <class T, class = void>
struct HasFields : std::false_type {};
template <class T>
struct HasFields<T, std::void_t<decltype(T::Fields(std::declval<T&>(),
                                                     std::declval<void (*)(const char*, int&)>()))>>
    : std::true_type {};

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <class T>
struct IsArray : std::false_type {};
template <class T, size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};

template <class T>
nlohmann::json ValueToJson(const T& value);

struct ToJsonVisitor {
  nlohmann::json* out;
  template <class T>
  void operator()(const char* name, const T& value) const {
    (*out)[name] = ValueToJson(value);
  }
};

template <class T>
nlohmann::json ValueToJson(const T& value) {
  if constexpr (HasFields<T>::value) {
    nlohmann::json out = nlohmann::json::object();
    T::Fields(value, ToJsonVisitor{&out});
    return out;
  } else if constexpr (std::is_enum_v<T>) {
    return ToString(value);  // found by ADL in the enum's namespace
  } else if constexpr (IsVector<T>::value || IsArray<T>::value) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value) out.push_back(ValueToJson(v));
    return out;
  } else {
    return nlohmann::json(value);
  }
}

template <class T>
void ValueFromJson(const nlohmann::json& j, const std::string& path, T* value);

struct FromJsonVisitor {
  const nlohmann::json* in;
  std::string prefix;
  int* used;
  template <class T>
  void operator()(const char* name, T& value) const {
    auto it = in->find(name);
    if (it == in->end()) return;
    ++*used;
    ValueFromJson(*it, prefix + name, &value);
  }
};

template <class T>
void ValueFromJson(const nlohmann::json& j, const std::string& path, T* value) {
  try {
    if constexpr (HasFields<T>::value) {
      VIGIL_CHECK(j.is_object(), "option {}: expected an object, got {}", path, j.dump());
      int used = 0;
      T::Fields(*value, FromJsonVisitor{&j, path + ".", &used});
      if (used != static_cast<int>(j.size())) {
        // Name the first key the struct does not have.
        for (auto it = j.begin(); it != j.end(); ++it) {
          bool known = false;
          T::Fields(*value, [&](const char* name, auto&) { known = known || it.key() == name; });
          VIGIL_CHECK(known, "option {}{}: unknown field", path + ".", it.key());
        }
      }
    } else if constexpr (std::is_enum_v<T>) {
      VIGIL_CHECK(j.is_string(), "option {}: expected a name, got {}", path, j.dump());
      *value = Parse(j.get<std::string>(), path, static_cast<T*>(nullptr));  // ADL
    } else if constexpr (IsVector<T>::value) {
      VIGIL_CHECK(j.is_array(), "option {}: expected an array, got {}", path, j.dump());
      value->clear();
      for (size_t i = 0; i < j.size(); ++i) {
        typename T::value_type v{};
        ValueFromJson(j[i], path + "[" + std::to_string(i) + "]", &v);
        value->push_back(std::move(v));
      }
    } else if constexpr (IsArray<T>::value) {
      VIGIL_CHECK(j.is_array() && j.size() == value->size(), "option {}: expected {} values, got {}",
                  path, value->size(), j.dump());
      for (size_t i = 0; i < value->size(); ++i) {
        ValueFromJson(j[i], path + "[" + std::to_string(i) + "]", &(*value)[i]);
      }
    } else {
      *value = j.get<T>();
    }
  } catch (const nlohmann::json::exception&) {
    ThrowError(fmt::format("option {}: bad value {}", path, j.dump()));
  }
}

inline void LeafFields(const nlohmann::json& j, const std::string& path,
                       const std::function<void(const std::string&, const nlohmann::json&)>& f) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      LeafFields(it.value(), path.empty() ? it.key() : path + "." + it.key(), f);
    }
  } else {
    f(path, j);
  }
}

}  // namespace options_detail

// {"field": value, ...} of an options struct that has Fields(), nested structs as objects.
template <class T>
nlohmann::json OptionsToJson(const T& options) {
  static_assert(options_detail::HasFields<T>::value, "the options struct needs a Fields() list");
  return options_detail::ValueToJson(options);
}

// Sets the fields that `j` names; throws vigil::Error naming "<root>.<field>" for an unknown
// field or a value of the wrong type. Fields `j` does not name keep their values.
template <class T>
void OptionsFromJson(const nlohmann::json& j, T* options, const std::string& root = "options") {
  options_detail::ValueFromJson(j, root, options);
}

// A stable 64-bit hash (FNV-1a) of a JSON document's compact text, as 16 hex digits: the
// identity of a configuration. Unlike std::hash it is the same in every build and on every
// machine, so an output folder or a map made elsewhere is recognised.
inline std::string ConfigHash(const nlohmann::json& config) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : config.dump()) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

// A command-line shorthand for one field of a plugin's options, declared by the plugin in its
// own options header:
//
//   static constexpr std::array<OptionFlag, 1> kFlags = {{{"ratio", "ratio", "Lowe ratio test"}}};
//
// A front end binds `--<name>` to `<plugin>.<field>` through SetOptionField, so it writes no
// flag for any plugin by hand, and a shorthand reaches exactly what `--set` reaches. Names are
// global on a command line. Two plugins of one family may declare the same name only for the
// same meaning (SPADE's and PatchCore's `--sigma`, the score map's smoothing): the flag then
// sets the field of whichever plugin runs. A shorthand of a plugin that does not run is an
// error, never silently unused. A boolean field's shorthand is a flag without a value; an
// array field's takes comma-separated values.
struct OptionFlag {
  const char* name;   // without the leading "--"
  const char* field;  // field path inside the plugin's options
  const char* help;
  char letter = 0;    // a one-letter alias (`-k`), or none
};

// A shorthand as a front end binds it: `--<name>` sets `path` of the family's options
// ("nn.ratio" in MatcherOptions), and applies when `plugin` is the one that runs.
struct PluginFlag {
  std::string name, path, help, plugin;
  char letter = 0;
};

// T::kFlags, or none when T declares no shorthand.
template <class T, class = void>
struct DeclaredFlags {
  static std::vector<OptionFlag> Get() { return {}; }
};
template <class T>
struct DeclaredFlags<T, std::void_t<decltype(T::kFlags)>> {
  static std::vector<OptionFlag> Get() { return {T::kFlags.begin(), T::kFlags.end()}; }
};

// The JSON pointer of a field path as ForEachLeafField and SetOptionField write it:
// "detector.overlap.method" -> "/detector/overlap/method".
inline nlohmann::json::json_pointer FieldPointer(std::string path) {
  std::replace(path.begin(), path.end(), '.', '/');
  return nlohmann::json::json_pointer("/" + path);
}

// f("nested.field", value) for every scalar or array field, in key order (JSON objects sort keys).
template <class T>
void ForEachLeafField(const T& options,
                      const std::function<void(const std::string&, const nlohmann::json&)>& f) {
  options_detail::LeafFields(OptionsToJson(options), "", f);
}

// Sets one field from text, as `vigil inspect --set PATH=VALUE` and the ROS node's ~set list
// do: "extractor.superpoint.nms_radius=3", "detector.overlap.method=hull". PATH is the field's
// path in OptionsToJson; VALUE is read as JSON when it parses as the field's kind (number, true
// or false, an array), else as a string. Every field of every plugin is reachable this way
// without a flag written for it. Throws naming the assignment: no '=', an unknown path (with
// the nearest known fields under the longest valid prefix), a value of the wrong kind.
template <class T>
void SetOptionField(T* options, const std::string& assignment, const std::string& option = "--set") {
  const size_t eq = assignment.find('=');
  VIGIL_CHECK_OPTION(eq != std::string::npos && eq > 0, option,
                     fmt::format("'{}': expected PATH=VALUE", assignment));
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json j = OptionsToJson(*options);
  nlohmann::json* node = &j;
  std::string walked;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(key)) {
      std::string known;
      if (node->is_object()) {
        for (auto it = node->begin(); it != node->end(); ++it) known += (known.empty() ? "" : ", ") + it.key();
      }
      ThrowError(fmt::format("option {}: '{}' has no field '{}'{}", option, walked.empty() ? "options" : walked,
                             key, known.empty() ? "" : " (known: " + known + ")"));
    }
    node = &(*node)[key];
    walked += (walked.empty() ? "" : ".") + key;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  VIGIL_CHECK_OPTION(!node->is_object(), option,
                     fmt::format("'{}' is a group of options, not one; set one of its fields", path));
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || (node->is_string() && !value.is_string())) value = text;
  const bool same_kind = (node->is_number() && value.is_number()) ||
                         (node->is_boolean() && value.is_boolean()) ||
                         (node->is_string() && value.is_string()) ||
                         (node->is_array() && value.is_array()) || node->is_null();
  VIGIL_CHECK_OPTION(same_kind, option,
                     fmt::format("'{}': {} needs a value like {}, got '{}'", assignment, path, node->dump(), text));
  // Only the one field is read back: a struct may list a field only while another has some
  // value (InspectorOptions lists dense_deep unless dense_channel is photometric), so reading the
  // whole document back would call a field unknown that this very assignment just hid.
  nlohmann::json patch;
  patch[FieldPointer(path)] = value;
  OptionsFromJson(patch, options);
}

}  // namespace vigil
