// The reference map file: everything an inspection needs from a clean reference run, computed
// once and stored in one SQLite database, so that a daily inspection reads blobs instead of
// decoding the reference images and extracting their features again.
//
// Schema version 1 (docs/map.md has the commands and the resume rules):
//   PRAGMA application_id = 0x5647494D ('VGIM'), PRAGMA user_version = 1, WAL journal.
//   meta(key TEXT PRIMARY KEY, value TEXT)
//       format = "vigil-map", schema_version = "1", vigil_version, build_identity (JSON),
//       created_utc (ISO 8601), calibration (JSON text, optional: `vigil calibrate` output).
//   runs(run_index INTEGER PRIMARY KEY, dir TEXT UNIQUE, pose_source TEXT)
//       the run folders the frames came from (absolute), 0 = the built run, 1.. = `map add`.
//   frames(frame_index INTEGER PRIMARY KEY, run_index, name TEXT UNIQUE, width, height,
//          timestamp REAL NULL, x, y, z, qx, qy, qz, qw REAL NULL)
//       0..n-1 in recording order (later runs continue the numbering); name = file name;
//       width x height of the decoded image; pose all-NULL when the frame has none.
//   features(frame_index, extractor TEXT, image_width, image_height,
//            keypoint_rows, score_rows, descriptor_rows, descriptor_cols, binary_rows,
//            binary_cols, keypoints BLOB, scores BLOB, descriptors BLOB, binary_descriptors BLOB,
//            PRIMARY KEY(frame_index, extractor))
//       vigil::Features field by field; every matrix with both of its dimensions, so an empty
//       0 x 256 descriptor matrix comes back as 0 x 256. Blobs are the row-major float32 /
//       uint8 data in the host's byte order (little-endian on every platform vigil builds for;
//       a static_assert in map_store.cc keeps it so).
//   global_descriptors(frame_index PRIMARY KEY, dim, data BLOB float32)
//       retrieval::GlobalDescriptor of the frame (the appearance rule of reference selection).
//   gray_images(frame_index PRIMARY KEY, width, height, data BLOB uint8, width*height bytes)
//       the frame as 8-bit gray, io::ToGray (cv::COLOR_BGR2GRAY) of the decoded colour image:
//       dense::ScorePair takes gray or BGR and turns BGR into gray with that very conversion
//       before anything else, so its change maps are the same from either. (A gray decode of the
//       file, cv::IMREAD_GRAYSCALE, is not: libjpeg converts with other rounding.) The keypoint
//       features are stored separately because extractors such as ALIKED need the colour image.
//   deep_features(frame_index, key TEXT, tap_order, tap TEXT, image_width, image_height,
//                 channels, height, width, data BLOB float32, PRIMARY KEY(frame_index, key,
//                 tap_order))
//       the dense stage's reference-side deep features (dense/deep_change.h DeepFeatures, one
//       row per tap, pixel-major H x W x C), stored under the key of what computed them
//       (DeepFeatureComputer::Key: taps, input scale, blur, model file), so an inspection uses
//       them only when it would compute the very same ones, and computes them otherwise. About
//       3.8 MB per 640x480 frame with the defaults. Optional: created by every writer (a map
//       from before it gains it on its next build, add or resume) and absent = none stored.
//
// Crash safety: every frame is written in one transaction (its frame row, features, global
// descriptor, image and deep features), so a build killed at any moment (SIGKILL, power cut) leaves whole
// frames only; a resumed build skips the frames present. WAL with synchronous=NORMAL: a crash
// of the process never loses a committed frame and never corrupts the file; a power cut may
// drop the last frames, which the resume recomputes.
//
// Concurrency: one writer (a build or add, BEGIN IMMEDIATE per frame) and any number of
// processes with OpenReadOnly at once; readers see whole frames only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vigil/dense/deep_change.h"
#include "vigil/features/types.h"
#include "vigil/map/sqlite.h"
#include "vigil/retrieval/run.h"

namespace vigil::map {

constexpr int kMapSchemaVersion = 1;

struct MapFrameRecord {
  int index = -1;             // frame_index: recording order, 0..n-1 over all runs of the map
  int run = 0;                // run_index of the run it came from (MapStore::Runs)
  retrieval::RunFrame frame;  // image = file name only (no folder); pose and timestamp as loaded
  int width = 0;              // size of the decoded image, pixels
  int height = 0;
};

struct MapRunRecord {
  int index = 0;              // run_index
  std::filesystem::path dir;  // absolute run folder at build time
  std::string pose_source;    // retrieval::PoseSourceName of the run
};

// What `vigil map info` shows, counted by SQL rather than by loading every blob.
struct MapStats {
  int num_frames = 0;
  int num_posed = 0;
  int num_runs = 0;
  double mean_keypoints = 0;            // over the feature rows
  std::vector<std::string> extractors;  // distinct extractor names in the features table
  bool has_calibration = false;
  int num_deep_feature_frames = 0;  // frames with stored deep features (any key)
  int num_deep_feature_keys = 0;    // distinct keys they are stored under
};

// A frame's deep features and the key of what computed them (DeepFeatureComputer::Key).
struct StoredDeepFeatures {
  std::string key;
  dense::DeepFeatures features;
};

class MapStore {
 public:
  // Creates the map at `path`, or reopens an existing one for resuming when its build identity
  // equals `build_identity`; otherwise throws vigil::Error naming the file and every differing
  // key (IdentityDifferences). A file left empty by a build killed before its first commit is
  // initialised like a new one.
  static MapStore Create(const std::filesystem::path& path, const nlohmann::json& build_identity);
  // Opens an existing map for writing (adding runs, setting the calibration) with whatever
  // identity it has. Same checks as OpenReadOnly.
  static MapStore OpenReadWrite(const std::filesystem::path& path);
  // Opens an existing map read-only (any number of processes at once). Throws vigil::Error
  // naming the file when it is missing, not an SQLite database, not a vigil map, of another
  // schema version, or fails PRAGMA quick_check (truncated, corrupt).
  static MapStore OpenReadOnly(const std::filesystem::path& path);

  MapStore(MapStore&&) noexcept = default;
  MapStore& operator=(MapStore&&) noexcept = default;
  ~MapStore();

  const std::filesystem::path& path() const { return db_.path(); }
  nlohmann::json build_identity() const;
  int schema_version() const;
  std::string vigil_version() const;  // of the vigil that created the file
  std::string created_utc() const;

  std::vector<MapRunRecord> Runs() const;
  // The run_index of `dir` (compared as an absolute, normalised path); nullopt when absent.
  std::optional<int> FindRun(const std::filesystem::path& dir) const;
  // Adds a run folder (or returns the index it already has).
  int AddRun(const std::filesystem::path& dir, const std::string& pose_source);

  std::vector<MapFrameRecord> Frames() const;  // by frame_index
  // The map's frames as a run, for reference selection: frame k = frame_index k, its image the
  // path it was read from (run folder / name; the file need not exist any more), dir and
  // pose_source those of run 0 (pose_file stays empty).
  retrieval::Run ReferenceRun() const;
  int NumFrames() const;
  bool HasFrame(const std::string& name) const;
  std::optional<MapFrameRecord> FindFrame(const std::string& name) const;
  // Stores one frame in one transaction and returns its frame_index (one more than the largest
  // so far; record.index is ignored). `gray`: CV_8UC1 of record.width x record.height. Throws
  // naming the frame when its name is in the map already or the inputs disagree.
  // `deep`: its deep features too, in the same transaction (optional).
  int AddFrame(const MapFrameRecord& record, const Features& features,
               const std::vector<float>& global_descriptor, const cv::Mat& gray,
               const StoredDeepFeatures* deep = nullptr);
  // Deep features for a frame stored without them (under this key), in one transaction.
  // Throws naming the frame when it is absent or has features under this key already.
  void AddDeepFeatures(int index, const StoredDeepFeatures& deep);
  bool HasDeepFeatures(int index, const std::string& key) const;
  // Frame `index`'s deep features stored under `key`, bit-identical to what was added; nullopt
  // when none are (an older map, another key). Throws naming the frame on a damaged row.
  std::optional<dense::DeepFeatures> LoadDeepFeatures(int index, const std::string& key) const;
  std::vector<std::string> DeepFeatureKeys() const;  // the distinct keys stored, sorted

  // The stored features of frame `index` by `extractor`; "" = the frame's only feature row.
  // Bit-identical to what was added. Throws naming the frame when absent.
  Features LoadFeatures(int index, const std::string& extractor = "") const;
  std::vector<float> LoadGlobalDescriptor(int index) const;
  cv::Mat LoadGray(int index) const;  // CV_8UC1

  void SetCalibration(const nlohmann::json& calibration);
  std::optional<nlohmann::json> Calibration() const;

  // Copies the WAL into the file and empties it (PRAGMA wal_checkpoint(TRUNCATE)), so that the
  // .vmap alone holds every frame. Waits for readers up to the busy timeout; false when readers
  // kept it from completing (the frames are safe in the -wal file meanwhile).
  bool Checkpoint();

  MapStats Stats() const;
  // PRAGMA integrity_check: "ok" or SQLite's messages, one per line.
  std::string IntegrityCheck() const;

 private:
  explicit MapStore(sqlite::Database db);
  void InsertDeepFeatures(int index, const StoredDeepFeatures& deep);  // inside a transaction
  std::optional<std::string> Meta(const std::string& key) const;
  void SetMeta(const std::string& key, const std::string& value);

  sqlite::Database db_;
};

// The leaf keys whose values differ between two identities, "extractor.max_keypoints: 1024 vs
// 2048" (stored value first), in key order; arrays are indexed ("models[0].mtime"), a key on
// one side only reads "<absent>". Empty when the two are equal.
std::vector<std::string> IdentityDifferences(const nlohmann::json& stored,
                                             const nlohmann::json& wanted);

}  // namespace vigil::map
