// The HTML report in a real browser: headless Chromium loads a report written from a synthetic
// input with known counts, runs its scripts, and dumps the DOM it ends with. Checks what a
// reader gets: no console messages (errors, uncaught exceptions), one row per frame and per
// event, every lazy image loaded once in view, and the status filter named in the URL applied.
//
// Chromium is required, not optional: without it the test fails and says to run
// scripts/setup.sh (CI installs it). $VIGIL_CHROMIUM names another binary.
#include <cstdlib>
#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "vigil/report/html_report.h"
#include "vigil/report/report_test_util.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::report {
namespace {
namespace fs = std::filesystem;

fs::path FindChromium() {
  if (const char* env = std::getenv("VIGIL_CHROMIUM"); env && *env) {
    return fs::exists(env) ? fs::path(env) : fs::path();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path dir = dirs.substr(start, end - start);
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      std::error_code ec;
      if (!dir.empty() && fs::exists(dir / name, ec)) return dir / name;
    }
    start = end + 1;
  }
  return {};
}

struct Page {
  std::string dom;
  std::vector<std::string> console;  // console messages the browser logged
};

// Loads file://<html><hash> and returns the DOM after the page's scripts ran. The window is
// tall so every lazy image is in view; the virtual time budget lets the observers fire before
// the dump.
Page Load(const fs::path& html, const std::string& hash, const fs::path& work) {
  const fs::path chromium = FindChromium();
  if (chromium.empty()) {
    ADD_FAILURE() << "chromium not found (needed by the report browser test): run "
                     "scripts/setup.sh, which installs it (CI does), or set VIGIL_CHROMIUM";
    return {};
  }
  static int run = 0;
  const fs::path dom = work / fmt::format("dom{}.html", run), log = work / fmt::format("log{}.txt", run);
  const fs::path profile = work / fmt::format("profile{}", run++);
  const std::string command = fmt::format(
      "timeout 60 '{}' --headless --no-sandbox --disable-gpu --no-first-run "
      "--user-data-dir='{}' --window-size=1280,20000 --virtual-time-budget=10000 "
      "--enable-logging=stderr --v=0 --dump-dom 'file://{}{}' > '{}' 2> '{}'",
      chromium.string(), profile.string(), fs::absolute(html).string(), hash, dom.string(),
      log.string());
  const int rc = std::system(command.c_str());
  std::error_code ec;
  fs::remove_all(profile, ec);  // a browser profile is megabytes; the DOM and log stay
  EXPECT_EQ(rc, 0) << command << "\n" << ReadFileToString(log);
  Page page;
  page.dom = ReadFileToString(dom);
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    // Chromium logs every console message as INFO:CONSOLE; uncaught exceptions among them.
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) {
      page.console.push_back(line);
    }
  }
  return page;
}

struct Row {
  std::string status;
  bool hidden = false;
};

// The frames-table rows (<tr ... data-status="...">) of a dumped DOM, in order.
std::vector<Row> FrameRows(const std::string& dom) {
  std::vector<Row> rows;
  static const std::regex tr(R"re(<tr\b[^>]*\bdata-status="([^"]*)"[^>]*>)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), tr); it != std::sregex_iterator(); ++it) {
    rows.push_back({(*it)[1].str(), it->str().find(" hidden") != std::string::npos});
  }
  return rows;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class ReportInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vigil::testing::MakeTempDir("report_browser");
    synthetic_ = synthetic::MakeSyntheticReport(dir_, 12, 4, /*poses=*/true);
    WriteInspectionReport(dir_, synthetic_.input);
  }
  fs::path dir_;
  synthetic::SyntheticReport synthetic_;
};

TEST(ReportBrowserCheck, ConsoleErrorsAreCaught) {
  // The negative control: a page that logs an error and throws must be seen to do so, or the
  // "no console messages" checks below prove nothing.
  const auto dir = vigil::testing::MakeTempDir("report_browser_control");
  WriteTextFileAtomically(dir / "bad.html",
                          "<!DOCTYPE html><html><body><script>console.error('boom');"
                          "missingFunction();</script></body></html>");
  const Page page = Load(dir / "bad.html", "", dir);
  ASSERT_EQ(page.console.size(), 2u) << page.dom;
  EXPECT_NE(page.console[0].find("boom"), std::string::npos) << page.console[0];
  EXPECT_NE(page.console[1].find("Uncaught ReferenceError"), std::string::npos) << page.console[1];
}

TEST_F(ReportInBrowser, LoadsCleanlyWithEveryRowShownAndEveryImageLoaded) {
  const Page page = Load(dir_ / "report.html", "", dir_);
  ASSERT_FALSE(page.dom.empty());
  for (const auto& line : page.console) ADD_FAILURE() << "console: " << line;
  EXPECT_NE(page.dom.find("data-ready=\"1\""), std::string::npos) << "the page's script did not finish";
  const auto rows = FrameRows(page.dom);
  int total = 0;
  for (const auto& [status, n] : synthetic_.rows_by_status) {
    int seen = 0;
    for (const Row& r : rows) seen += r.status == status;
    EXPECT_EQ(seen, n) << status;
    total += n;
  }
  EXPECT_EQ(static_cast<int>(rows.size()), total);
  for (const Row& r : rows) EXPECT_FALSE(r.hidden) << r.status;
  EXPECT_EQ(Count(page.dom, "<tr class=\"event\""), synthetic_.events);
  EXPECT_EQ(Count(page.dom, "class=\"event-marker\""), synthetic_.events);
  // The lazy loader moved every data URI into src (the window shows the whole page).
  EXPECT_EQ(Count(page.dom, "data-src="), 0);
  EXPECT_EQ(Count(page.dom, " src=\"data:image/jpeg;base64,"), synthetic_.thumbnails + synthetic_.crops);
  // Markup in a file name stays text: the only <b> elements are the report's own.
  EXPECT_EQ(page.dom.find("<b>bold</b>"), std::string::npos);
}

TEST_F(ReportInBrowser, FilterNamedInTheUrlShowsOnlyThoseFrames) {
  for (const std::string filter : {"changed", "not-inspectable,skipped"}) {
    const Page page = Load(dir_ / "report.html", "#filter=" + filter, dir_);
    ASSERT_FALSE(page.dom.empty());
    for (const auto& line : page.console) ADD_FAILURE() << "console: " << line;
    int expected = 0;
    for (const auto& [status, n] : synthetic_.rows_by_status) {
      if (("," + filter + ",").find("," + status + ",") != std::string::npos) expected += n;
    }
    int visible = 0;
    for (const Row& r : FrameRows(page.dom)) {
      const bool wanted = ("," + filter + ",").find("," + r.status + ",") != std::string::npos;
      EXPECT_EQ(r.hidden, !wanted) << filter << ": row " << r.status;
      visible += !r.hidden;
    }
    EXPECT_EQ(visible, expected) << filter;
    EXPECT_NE(page.dom.find(fmt::format("<span id=\"shown\">{}</span>", expected)), std::string::npos)
        << filter;
  }
}

}  // namespace
}  // namespace vigil::report
