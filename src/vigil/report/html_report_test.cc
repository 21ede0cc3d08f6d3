#include "vigil/report/html_report.h"

#include <gtest/gtest.h>

#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::report {
namespace {

TEST(HtmlReport, Base64MatchesRfc4648Vectors) {
  auto encode = [](const std::string& s) {
    return Base64Encode(std::vector<unsigned char>(s.begin(), s.end()));
  };
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(HtmlReport, EscapesMarkup) { EXPECT_EQ(HtmlEscape("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;"); }

TEST(HtmlReport, SummarisesQueriesAndFlags) {
  const auto dir = testing::MakeTempDir("html_report");
  InspectionReportInput input;
  input.title = "run <1>";
  input.queries.push_back({{"query", "a.png"},
                           {"reference", {{"image", "r.png"}, {"rule", "pose"}}},
                           {"anomalies", {{{"kind", "new"}, {"label", "chair"}}}},
                           {"second_reference", {{"image", "r2.png"}, {"unconfirmed_anomalies", 3}}},
                           {"timings_ms", {{"extract", 10.0}}}});
  input.queries.push_back({{"query", "b.png"}, {"localization_error", true}, {"note", "tiny overlap"},
                           {"anomalies", nlohmann::json::array()}});
  input.total_timings_ms = {{"extract", 10.0}};
  WriteInspectionReport(dir, input);
  const std::string html = ReadFileToString(dir / "report.html");
  EXPECT_NE(html.find("run &lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("<b>2</b> queries: <b>1</b> with changes (1 anomalies), <b>1</b> flagged"),
            std::string::npos);
  EXPECT_NE(html.find("chair &times;1"), std::string::npos);
  EXPECT_NE(html.find("tiny overlap"), std::string::npos);
  EXPECT_NE(html.find("2nd view: r2.png, 3 dropped"), std::string::npos);
  EXPECT_NE(html.find("3 candidate anomalies dropped"), std::string::npos);
}

}  // namespace
}  // namespace vigil::report
