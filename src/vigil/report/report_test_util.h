// Test-only: a synthetic inspection report input whose expected content is known by
// construction, shared by the unit tests (html_report_test.cc) and the real-browser test
// (html_report_browser_test.cc).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "vigil/report/html_report.h"

namespace vigil::report::synthetic {

struct SyntheticReport {
  InspectionReportInput input;
  std::map<std::string, int> rows_by_status;  // expected frames-table rows per status
  int events = 0;                             // expected event rows
  int thumbnails = 0;                         // panels written under out_dir/panels
  int crops = 0;                              // non-empty event crops
  std::string nasty_name;                     // a query name full of markup (frame 2)
};

// `frames` query frames (frame i is not inspectable when i % 5 == 3, changed when i % 5 < 2,
// else unchanged), two skipped frames of the query run and one of the reference run, `events`
// change events over the changed frames, and (with `poses`) both trajectories on a circle in a
// tilted plane. Writes small panels for the first three frames under out_dir/panels.
SyntheticReport MakeSyntheticReport(const std::filesystem::path& out_dir, int frames, int events,
                                    bool poses);

}  // namespace vigil::report::synthetic
