// libFuzzer target for the per-query JSON a resumed run reads back (report/frame_record.h
// FrameRecordFromJson): `vigil inspect` trusts an output folder's documents when it resumes, and
// a damaged or hand-edited one must be refused with vigil::Error (then recomputed), never crash
// or be half-read. Any input must parse or raise vigil::Error; anything else is a bug. The ROS
// collector's FrameRecordOrFailure must turn any message into a row without throwing.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "vigil/report/frame_record.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The JSON text itself is nlohmann's to parse; invalid text is what Resumable skips first.
  const nlohmann::json doc = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  try {
    const vigil::report::FrameRecord r = vigil::report::FrameRecordFromJson(doc);
    volatile double sum = r.TotalMs() + r.matches + r.Status().size();
    for (const auto& a : r.anomalies) sum = sum + a.bbox.area() + a.score;
  } catch (const vigil::Error&) {
  }
  // What the ROS collector does with any message: never throws, always a row.
  const vigil::report::FrameRecord row = vigil::report::FrameRecordOrFailure(doc, "robot__q.png");
  if (row.query != "robot__q.png") __builtin_trap();
  return 0;
}
