// libFuzzer target for the run pose files of retrieval/run.h: the input is the pose file of a run
// folder holding four empty images (two with TUM timestamps in their names). The first input byte
// picks the format (even: poses.csv, odd: TUM trajectory); the rest is the file. Any input must
// load or raise vigil::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "vigil/retrieval/run.h"
#include "vigil/util/check.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = [] {
    const fs::path d = vigil::fuzz::ScratchDir("run_poses") / "run";
    fs::create_directories(d);
    for (const char* name : {"a.png", "frame_10.png", "1305031102.175304.png",
                             "1305031102.211214.png"}) {
      vigil::fuzz::WriteBytes(d / name, nullptr, 0);
    }
    return d;
  }();
  if (size == 0) return 0;
  const bool tum = data[0] & 1;
  // Outside the run folder, so the pose file is never listed as an image and never shadows one.
  const fs::path pose_file = dir.parent_path() / (tum ? "trajectory.txt" : "poses.csv");
  vigil::fuzz::WriteBytes(pose_file, data + 1, size - 1);
  vigil::retrieval::RunOptions options;
  options.poses = tum ? "tum" : "csv";
  options.pose_file = pose_file;
  try {
    const vigil::retrieval::Run run = vigil::retrieval::LoadRun(dir, options);
    volatile double sum = 0;
    for (const auto& frame : run.frames) {
      if (frame.pose) sum = sum + frame.pose->position.sum() + frame.pose->orientation.w();
    }
  } catch (const vigil::Error&) {
  }
  return 0;
}
