#include "vigil/util/options_fields.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vigil/util/testing.h"

namespace vigil {
namespace {

enum class Mode { kA, kB };
const char* ToString(Mode m) { return m == Mode::kA ? "a" : "b"; }
Mode Parse(const std::string& name, const std::string& option, Mode*) {
  if (name == "a") return Mode::kA;
  if (name == "b") return Mode::kB;
  ThrowError(fmt::format("option {}: unknown mode '{}'", option, name));
}

struct Inner {
  double radius = 1.5;
  std::vector<int> sizes = {1, 2};
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("radius", s.radius);
    v("sizes", s.sizes);
  }
};

struct Outer {
  int count = 3;
  bool on = true;
  std::string name = "x";
  Mode mode = Mode::kA;
  Inner inner;
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("count", s.count);
    v("on", s.on);
    v("name", s.name);
    v("mode", s.mode);
    v("inner", s.inner);
  }
};

TEST(OptionsFields, ToJsonListsEveryFieldNested) {
  const nlohmann::json j = OptionsToJson(Outer{});
  EXPECT_EQ(j, nlohmann::json::parse(
                   R"({"count":3,"on":true,"name":"x","mode":"a","inner":{"radius":1.5,"sizes":[1,2]}})"));
}

TEST(OptionsFields, FromJsonRoundTripsAndKeepsUnnamedFields) {
  Outer o;
  OptionsFromJson(nlohmann::json::parse(R"({"count":7,"mode":"b","inner":{"radius":2}})"), &o);
  EXPECT_EQ(o.count, 7);
  EXPECT_EQ(o.mode, Mode::kB);
  EXPECT_DOUBLE_EQ(o.inner.radius, 2);
  EXPECT_EQ(o.name, "x");
  Outer back;
  OptionsFromJson(OptionsToJson(o), &back);
  EXPECT_EQ(OptionsToJson(back), OptionsToJson(o));
}

TEST(OptionsFields, UnknownFieldAndBadTypeAreNamed) {
  Outer o;
  try {
    OptionsFromJson(nlohmann::json::parse(R"({"inner":{"radiuz":2}})"), &o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("options.inner.radiuz"), std::string::npos) << e.what();
  }
  try {
    OptionsFromJson(nlohmann::json::parse(R"({"count":"many"})"), &o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("options.count"), std::string::npos) << e.what();
  }
}

TEST(OptionsFields, EveryLeafChangesTheHash) {
  std::vector<std::string> paths;
  ForEachLeafField(Outer{}, [&](const std::string& path, const nlohmann::json&) { paths.push_back(path); });
  EXPECT_EQ(paths, (std::vector<std::string>{"count", "inner.radius", "inner.sizes", "mode", "name", "on"}));
  EXPECT_EQ(FieldPointer("inner.radius").to_string(), "/inner/radius");
  int fields = 0;
  const std::vector<std::string> failing = testing::FieldsOutsideTheIdentity(
      Outer{}, &fields, [](const std::string& path, nlohmann::json& leaf) {
        if (path != "mode") return false;
        leaf = "b";  // a name that parses
        return true;
      });
  EXPECT_TRUE(failing.empty()) << (failing.empty() ? "" : failing.front());
  EXPECT_EQ(fields, static_cast<int>(paths.size()));
}

TEST(OptionsFields, HashIsStable) {
  // FNV-1a 64 of "{}" computed by hand: offset basis, then '{' (0x7b) and '}' (0x7d).
  uint64_t h = 14695981039346656037ull;
  h = (h ^ 0x7b) * 1099511628211ull;
  h = (h ^ 0x7d) * 1099511628211ull;
  EXPECT_EQ(ConfigHash(nlohmann::json::object()), fmt::format("{:016x}", h));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

struct SetInner {
  int radius = 4;
  std::string method = "box";
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("radius", s.radius);
    v("method", s.method);
  }
};
struct SetOuter {
  double ratio = 0.5;
  bool enabled = true;
  SetInner inner;
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("ratio", s.ratio);
    v("enabled", s.enabled);
    v("inner", s.inner);
  }
};

TEST(SetOptionField, SetsNestedFieldsOfEveryKind) {
  SetOuter o;
  SetOptionField(&o, "inner.radius=7");
  SetOptionField(&o, "inner.method=hull");
  SetOptionField(&o, "ratio=0.25");
  SetOptionField(&o, "enabled=false");
  EXPECT_EQ(o.inner.radius, 7);
  EXPECT_EQ(o.inner.method, "hull");
  EXPECT_DOUBLE_EQ(o.ratio, 0.25);
  EXPECT_FALSE(o.enabled);
  SetOptionField(&o, "inner.method=12");  // a string field keeps digits as text
  EXPECT_EQ(o.inner.method, "12");
}

// A field listed only while another has some value (as InspectorOptions lists dense_deep unless
// dense_channel is "photometric"): the assignment that hides it must not make it "unknown".
struct Conditional {
  std::string channel = "auto";
  Inner deep;
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("channel", s.channel);
    if (s.channel != "photometric") v("deep", s.deep);
  }
};

TEST(SetOptionField, AnAssignmentMayHideAnotherField) {
  Conditional c;
  SetOptionField(&c, "deep.radius=3");
  SetOptionField(&c, "channel=photometric");
  EXPECT_EQ(c.channel, "photometric");
  EXPECT_FALSE(OptionsToJson(c).contains("deep"));
  EXPECT_THROW(SetOptionField(&c, "deep.radius=4"), Error);  // hidden now: named as unknown
  SetOptionField(&c, "channel=deep");
  EXPECT_DOUBLE_EQ(c.deep.radius, 3);  // kept while hidden
}

TEST(SetOptionField, BadAssignmentsNameWhatIsWrong) {
  SetOuter o;
  auto message = [&](const std::string& assignment) {
    try {
      SetOptionField(&o, assignment);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("inner.radius").find("PATH=VALUE"), std::string::npos);
  const std::string unknown = message("inner.radious=3");
  EXPECT_NE(unknown.find("radious"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("radius"), std::string::npos) << unknown;  // the known fields listed
  EXPECT_NE(message("inner=3").find("group"), std::string::npos);
  EXPECT_NE(message("inner.radius=wide").find("inner.radius"), std::string::npos);
  EXPECT_NE(message("enabled=1").find("enabled"), std::string::npos);
  EXPECT_EQ(o.inner.radius, 4);  // nothing changed by the failures
}

}  // namespace
}  // namespace vigil
