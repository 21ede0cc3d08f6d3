#include "vigil/map/map_store.h"

#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <sqlite3.h>
#include <system_error>
#include <utility>

#include <fmt/ranges.h>

#include "vigil/util/check.h"

#ifndef VIGIL_VERSION
#error "VIGIL_VERSION must be defined by the build (src/vigil/map/CMakeLists.txt)"
#endif

namespace vigil::map {
namespace fs = std::filesystem;
using nlohmann::json;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// Blobs are the in-memory bytes; the format says little-endian, so refuse to build elsewhere
// rather than write files other machines misread.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the map file stores little-endian blobs");
static_assert(sizeof(float) == 4, "the map file stores float32 blobs");

namespace {

constexpr int64_t kApplicationId = 0x5647494D;  // 'VGIM': marks the SQLite file as a vigil map
constexpr char kFormat[] = "vigil-map";

constexpr char kSchema[] = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE runs (
  run_index INTEGER PRIMARY KEY NOT NULL,
  dir TEXT NOT NULL UNIQUE,
  pose_source TEXT NOT NULL);
CREATE TABLE frames (
  frame_index INTEGER PRIMARY KEY NOT NULL,
  run_index INTEGER NOT NULL REFERENCES runs(run_index),
  name TEXT NOT NULL UNIQUE,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  timestamp REAL,
  x REAL, y REAL, z REAL, qx REAL, qy REAL, qz REAL, qw REAL);
CREATE TABLE features (
  frame_index INTEGER NOT NULL REFERENCES frames(frame_index),
  extractor TEXT NOT NULL,
  image_width INTEGER NOT NULL,
  image_height INTEGER NOT NULL,
  keypoint_rows INTEGER NOT NULL,
  score_rows INTEGER NOT NULL,
  descriptor_rows INTEGER NOT NULL,
  descriptor_cols INTEGER NOT NULL,
  binary_rows INTEGER NOT NULL,
  binary_cols INTEGER NOT NULL,
  keypoints BLOB NOT NULL,
  scores BLOB NOT NULL,
  descriptors BLOB NOT NULL,
  binary_descriptors BLOB NOT NULL,
  PRIMARY KEY (frame_index, extractor));
CREATE TABLE global_descriptors (
  frame_index INTEGER PRIMARY KEY NOT NULL REFERENCES frames(frame_index),
  dim INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE TABLE gray_images (
  frame_index INTEGER PRIMARY KEY NOT NULL REFERENCES frames(frame_index),
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  data BLOB NOT NULL);
)sql";

// The dense stage's reference-side deep features (dense/deep_change.h), one row per frame and
// tap, under the key of what computed them (DeepFeatureComputer::Key). Created on every opening
// for writing, so a map from before it gains the table on its next build, add or resume; a map
// read without the table has no stored deep features.
constexpr char kDeepFeaturesSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS deep_features (
  frame_index INTEGER NOT NULL REFERENCES frames(frame_index),
  key TEXT NOT NULL,
  tap_order INTEGER NOT NULL,
  tap TEXT NOT NULL,
  image_width INTEGER NOT NULL,
  image_height INTEGER NOT NULL,
  channels INTEGER NOT NULL,
  height INTEGER NOT NULL,
  width INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (frame_index, key, tap_order));
)sql";

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string NormalDir(const fs::path& dir) {
  std::error_code error;
  fs::path p = fs::weakly_canonical(fs::absolute(dir), error);
  if (error) p = fs::absolute(dir).lexically_normal();
  return p.string();
}

int64_t PragmaInt(const Database& db, const std::string& pragma) {
  Statement s = db.Prepare("PRAGMA " + pragma);
  return s.Step() ? s.Int(0) : 0;
}

int CountTables(const Database& db) {
  Statement s = db.Prepare("SELECT COUNT(*) FROM sqlite_master");
  s.Step();
  return static_cast<int>(s.Int(0));
}

// WAL: readers never block the writer nor each other; NORMAL: a committed transaction survives
// the process being killed (the WAL is in the OS's hands), only a power cut can drop the last
// ones, and the file stays consistent either way. One fsync per checkpoint instead of per frame.
void ConfigureWriter(const Database& db) {
  db.Exec("PRAGMA journal_mode=WAL");
  db.Exec("PRAGMA synchronous=NORMAL");
  db.Exec("PRAGMA foreign_keys=ON");
  db.Exec(kDeepFeaturesSchema);
}

bool HasTable(const Database& db, const std::string& name) {
  Statement s = db.Prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
  s.Bind(1, name);
  s.Step();
  return s.Int(0) > 0;
}

void Initialise(const Database& db, const json& build_identity) {
  ConfigureWriter(db);
  Transaction transaction(db);
  db.Exec(kSchema);
  db.Exec(fmt::format("PRAGMA application_id={}", kApplicationId));
  db.Exec(fmt::format("PRAGMA user_version={}", kMapSchemaVersion));
  Statement insert = db.Prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  const std::pair<const char*, std::string> rows[] = {
      {"format", kFormat},
      {"schema_version", std::to_string(kMapSchemaVersion)},
      {"vigil_version", VIGIL_VERSION},
      {"build_identity", build_identity.dump()},
      {"created_utc", NowUtc()},
  };
  for (const auto& [key, value] : rows) {
    insert.Bind(1, key).Bind(2, value).Run();
    insert.Reset();
  }
  transaction.Commit();
}

// An error message without the "<file>: " that database errors start with.
std::string WithoutFile(const Error& e, const std::string& file) {
  const std::string what = e.what();
  return what.rfind(file + ": ", 0) == 0 ? what.substr(file.size() + 2) : what;
}

// The checks every open makes, each failure naming the file and what is wrong with it.
void Validate(const Database& db) {
  const std::string file = db.path().string();
  {
    // SQLite reports a foreign file and a damaged database alike ("malformed"); its 16-byte
    // header string tells the two apart.
    std::error_code error;
    VIGIL_CHECK(fs::file_size(db.path(), error) != 0 || error,
                "{}: an empty map file (a build stopped before it stored anything); run vigil map "
                "build again",
                file);
    char header[16] = {};
    std::ifstream in(db.path(), std::ios::binary);
    in.read(header, sizeof(header));
    VIGIL_CHECK(in && std::memcmp(header, "SQLite format 3", 16) == 0,
                "{}: not a vigil map file (not an SQLite database)", file);
  }
  int64_t application_id = 0;
  try {
    application_id = PragmaInt(db, "application_id");
  } catch (const Error& e) {
    ThrowError(fmt::format("{}: corrupt or truncated vigil map ({})", file, WithoutFile(e, file)));
  }
  if (application_id == 0 && CountTables(db) == 0) {
    ThrowError(
        fmt::format("{}: an empty map file (a build stopped before it stored anything); run "
                    "vigil map build again",
                    file));
  }
  VIGIL_CHECK(application_id == kApplicationId,
              "{}: not a vigil map file (an SQLite database with application_id {:#x}, a map has "
              "{:#x})",
              file, application_id, kApplicationId);
  try {
    // quick_check reads every page: a truncated or overwritten file fails here, at open, and
    // not in the middle of an inspection.
    std::string check;
    Statement s = db.Prepare("PRAGMA quick_check");
    while (s.Step()) check += (check.empty() ? "" : "; ") + s.Text(0);
    VIGIL_CHECK(check == "ok", "PRAGMA quick_check: {}", check.substr(0, 300));
    Statement meta = db.Prepare("SELECT value FROM meta WHERE key = 'schema_version'");
    VIGIL_CHECK(meta.Step(), "no schema_version in its meta table");
    const std::string version = meta.Text(0);
    VIGIL_CHECK(version == std::to_string(kMapSchemaVersion),
                "schema version {}, this vigil ({}) reads version {}", version, VIGIL_VERSION,
                kMapSchemaVersion);
  } catch (const Error& e) {
    // Database errors start with the file name; the checks' own messages do not.
    const std::string what = e.what();
    ThrowError(
        what.rfind(file + ": ", 0) == 0
            ? fmt::format("{}: corrupt or truncated vigil map ({})", file, WithoutFile(e, file))
            : fmt::format("{}: unusable vigil map: {}", file, what));
  }
}

void CheckExists(const fs::path& path) {
  std::error_code error;
  VIGIL_CHECK(fs::is_regular_file(path, error), "{}: no such map file", path.string());
}

template <class T>
void BindMatrix(Statement& s, int index, const T* data, int64_t count) {
  s.BindBlob(index, data, static_cast<size_t>(count) * sizeof(T));
}

// Copies a blob column of `count` elements of T into `out`, checking its size.
template <class T>
void ReadBlob(const Statement& s, int column, int64_t count, T* out, const std::string& what) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(T);
  VIGIL_CHECK(s.BlobSize(column) == bytes, "{}: {} bytes, expected {}", what, s.BlobSize(column),
              bytes);
  if (bytes) std::memcpy(out, s.Blob(column), bytes);
}

// Checks a stored array's shape fields against its blob before anything is allocated: a damaged
// or hostile map can hold any size fields, and allocating by them first threw std::bad_alloc
// (found by fuzz_map_store: a keypoint count of ~2^62) instead of naming the file.
void CheckStoredShape(const Statement& s, int column, int64_t rows, int64_t cols, size_t element,
                      const std::string& what) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  VIGIL_CHECK(rows >= 0 && cols >= 0 && rows <= kMax && cols <= kMax, "{}: stored shape {}x{}", what, rows,
              cols);
  const size_t bytes = s.BlobSize(column);
  // rows * cols < 2^62: no overflow; compared in elements, not bytes.
  VIGIL_CHECK(bytes % element == 0 && static_cast<uint64_t>(rows * cols) == bytes / element,
              "{}: {} bytes, expected {}x{} values of {} bytes", what, bytes, rows, cols, element);
}

// A matrix column: its shape fields checked against the blob, then resized and read.
template <class M>
void ReadMatrix(const Statement& s, int column, int64_t rows, int64_t cols, M* out, const std::string& what) {
  CheckStoredShape(s, column, rows, cols, sizeof(typename M::Scalar), what);
  out->resize(rows, cols);
  ReadBlob(s, column, out->size(), out->data(), what);
}

void Flatten(const json& j, const std::string& path, std::map<std::string, json>* out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      Flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    }
  } else if (j.is_array() && !j.empty()) {
    for (size_t i = 0; i < j.size(); ++i) Flatten(j[i], path + "[" + std::to_string(i) + "]", out);
  } else {
    (*out)[path] = j;
  }
}

}  // namespace

std::vector<std::string> IdentityDifferences(const json& stored, const json& wanted) {
  std::map<std::string, json> a, b;
  Flatten(stored, "", &a);
  Flatten(wanted, "", &b);
  std::map<std::string, std::pair<std::string, std::string>> diff;
  for (const auto& [key, value] : a) {
    auto it = b.find(key);
    if (it == b.end()) {
      diff[key] = {value.dump(), "<absent>"};
    } else if (it->second != value) {
      diff[key] = {value.dump(), it->second.dump()};
    }
  }
  for (const auto& [key, value] : b) {
    if (!a.count(key)) diff[key] = {"<absent>", value.dump()};
  }
  std::vector<std::string> out;
  for (const auto& [key, values] : diff) {
    out.push_back(
        fmt::format("{}: {} vs {}", key.empty() ? "(root)" : key, values.first, values.second));
  }
  return out;
}

MapStore::MapStore(Database db) : db_(std::move(db)) {}
MapStore::~MapStore() = default;

MapStore MapStore::Create(const fs::path& path, const json& build_identity) {
  std::error_code error;
  const bool exists = fs::exists(path, error);
  if (exists) {
    VIGIL_CHECK(fs::is_regular_file(path, error), "{}: exists and is not a map file",
                path.string());
  } else if (!path.parent_path().empty()) {
    fs::create_directories(path.parent_path(), error);
  }
  Database db(path, Database::Mode::kReadWriteCreate);
  bool empty = !exists;
  if (exists) {
    try {
      empty = CountTables(db) == 0;  // a build killed before its first commit
    } catch (const Error&) {
      empty = false;  // not a database at all: Validate says so
    }
  }
  if (empty) {
    Initialise(db, build_identity);
    return MapStore(std::move(db));
  }
  Validate(db);
  ConfigureWriter(db);
  MapStore store(std::move(db));
  const std::vector<std::string> diff = IdentityDifferences(store.build_identity(), build_identity);
  VIGIL_CHECK(diff.empty(),
              "{}: the map was built with another configuration (map vs now: {}); use another "
              "--out or the map's own settings",
              path.string(), fmt::join(diff, "; "));
  return store;
}

MapStore MapStore::OpenReadWrite(const fs::path& path) {
  CheckExists(path);
  Database db(path, Database::Mode::kReadWrite);
  Validate(db);
  ConfigureWriter(db);
  return MapStore(std::move(db));
}

MapStore MapStore::OpenReadOnly(const fs::path& path) {
  CheckExists(path);
  Database db(path, Database::Mode::kReadOnly);
  // After a writer was killed, the WAL index (-shm) must be rebuilt from the -wal file before
  // anyone can read, and a read-only connection may not do that (SQLITE_READONLY_RECOVERY).
  // The recovery changes no content of the map: let one read-write connection do it.
  const int probe =
      sqlite3_exec(db.handle(), "SELECT COUNT(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if ((probe & 0xff) == SQLITE_READONLY) {
    try {
      Database recover(path, Database::Mode::kReadWrite);
      recover.Exec("SELECT COUNT(*) FROM sqlite_master");
    } catch (const Error& e) {
      ThrowError(
          fmt::format("{}: the map's write-ahead log (-wal) needs recovery after an "
                      "interrupted build, which needs write access: {}",
                      path.string(), WithoutFile(e, path.string())));
    }
    db = Database(path, Database::Mode::kReadOnly);
  }
  Validate(db);
  return MapStore(std::move(db));
}

std::optional<std::string> MapStore::Meta(const std::string& key) const {
  Statement s = db_.Prepare("SELECT value FROM meta WHERE key = ?");
  s.Bind(1, key);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

void MapStore::SetMeta(const std::string& key, const std::string& value) {
  Transaction transaction(db_);
  db_.Prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
      .Bind(1, key)
      .Bind(2, value)
      .Run();
  transaction.Commit();
}

json MapStore::build_identity() const {
  const std::optional<std::string> text = Meta("build_identity");
  VIGIL_CHECK(text, "{}: no build_identity in the map's meta table", path().string());
  try {
    return json::parse(*text);
  } catch (const json::exception& e) {
    ThrowError(
        fmt::format("{}: the map's build_identity is not JSON: {}", path().string(), e.what()));
  }
}

int MapStore::schema_version() const { return std::stoi(Meta("schema_version").value_or("0")); }
std::string MapStore::vigil_version() const { return Meta("vigil_version").value_or(""); }
std::string MapStore::created_utc() const { return Meta("created_utc").value_or(""); }

std::vector<MapRunRecord> MapStore::Runs() const {
  std::vector<MapRunRecord> runs;
  Statement s = db_.Prepare("SELECT run_index, dir, pose_source FROM runs ORDER BY run_index");
  while (s.Step()) runs.push_back({static_cast<int>(s.Int(0)), s.Text(1), s.Text(2)});
  return runs;
}

std::optional<int> MapStore::FindRun(const fs::path& dir) const {
  Statement s = db_.Prepare("SELECT run_index FROM runs WHERE dir = ?");
  s.Bind(1, NormalDir(dir));
  if (!s.Step()) return std::nullopt;
  return static_cast<int>(s.Int(0));
}

int MapStore::AddRun(const fs::path& dir, const std::string& pose_source) {
  if (std::optional<int> existing = FindRun(dir)) return *existing;
  Transaction transaction(db_);
  Statement next = db_.Prepare("SELECT COALESCE(MAX(run_index) + 1, 0) FROM runs");
  next.Step();
  const int index = static_cast<int>(next.Int(0));
  db_.Prepare("INSERT INTO runs (run_index, dir, pose_source) VALUES (?, ?, ?)")
      .Bind(1, index)
      .Bind(2, NormalDir(dir))
      .Bind(3, pose_source)
      .Run();
  transaction.Commit();
  return index;
}

namespace {

constexpr char kFrameColumns[] =
    "frame_index, run_index, name, width, height, timestamp, x, y, z, qx, qy, qz, qw";

MapFrameRecord FrameFromRow(const Statement& s) {
  MapFrameRecord r;
  r.index = static_cast<int>(s.Int(0));
  r.run = static_cast<int>(s.Int(1));
  r.frame.image = s.Text(2);
  r.width = static_cast<int>(s.Int(3));
  r.height = static_cast<int>(s.Int(4));
  if (!s.IsNull(5)) r.frame.timestamp = s.Double(5);
  if (!s.IsNull(6)) {
    retrieval::Pose pose;
    pose.position = Eigen::Vector3d(s.Double(6), s.Double(7), s.Double(8));
    // Eigen's constructor takes (w, x, y, z); coeffs() order is (x, y, z, w).
    pose.orientation = Eigen::Quaterniond(s.Double(12), s.Double(9), s.Double(10), s.Double(11));
    r.frame.pose = pose;
  }
  return r;
}

}  // namespace

std::vector<MapFrameRecord> MapStore::Frames() const {
  std::vector<MapFrameRecord> frames;
  Statement s =
      db_.Prepare(fmt::format("SELECT {} FROM frames ORDER BY frame_index", kFrameColumns));
  while (s.Step()) frames.push_back(FrameFromRow(s));
  return frames;
}

retrieval::Run MapStore::ReferenceRun() const {
  const std::vector<MapRunRecord> runs = Runs();
  std::map<int, fs::path> dirs;
  for (const MapRunRecord& r : runs) dirs[r.index] = r.dir;
  retrieval::Run run;
  if (!runs.empty()) {
    run.dir = runs.front().dir;
    const std::string& source = runs.front().pose_source;
    run.pose_source = source == "poses.csv" ? retrieval::PoseSource::kPosesCsv
                      : source == "tum"     ? retrieval::PoseSource::kTumTrajectory
                                            : retrieval::PoseSource::kNone;
  }
  for (MapFrameRecord& record : Frames()) {
    record.frame.image = dirs[record.run] / record.frame.image;
    run.frames.push_back(std::move(record.frame));
  }
  return run;
}

int MapStore::NumFrames() const {
  Statement s = db_.Prepare("SELECT COUNT(*) FROM frames");
  s.Step();
  return static_cast<int>(s.Int(0));
}

bool MapStore::HasFrame(const std::string& name) const { return FindFrame(name).has_value(); }

std::optional<MapFrameRecord> MapStore::FindFrame(const std::string& name) const {
  Statement s = db_.Prepare(fmt::format("SELECT {} FROM frames WHERE name = ?", kFrameColumns));
  s.Bind(1, name);
  if (!s.Step()) return std::nullopt;
  return FrameFromRow(s);
}

int MapStore::AddFrame(const MapFrameRecord& record, const Features& features,
                       const std::vector<float>& global_descriptor, const cv::Mat& gray,
                       const StoredDeepFeatures* deep) {
  const std::string name = record.frame.image.filename().string();
  const std::string file = path().string();
  VIGIL_CHECK(!name.empty(), "{}: a frame needs a file name", file);
  VIGIL_CHECK(record.width > 0 && record.height > 0, "{}: frame {} has size {}x{}", file, name,
              record.width, record.height);
  VIGIL_CHECK(gray.type() == CV_8UC1 && gray.cols == record.width && gray.rows == record.height,
              "{}: frame {}: the gray image must be 8-bit 1-channel {}x{}, got type {} {}x{}", file,
              name, record.width, record.height, gray.type(), gray.cols, gray.rows);
  VIGIL_CHECK(features.scores.size() == features.keypoints.rows() &&
                  (features.descriptors.rows() == 0 ||
                   features.descriptors.rows() == features.keypoints.rows()) &&
                  (features.binary_descriptors.rows() == 0 ||
                   features.binary_descriptors.rows() == features.keypoints.rows()),
              "{}: frame {}: {} keypoints with {} scores, {} float and {} binary descriptors", file,
              name, features.keypoints.rows(), features.scores.size(), features.descriptors.rows(),
              features.binary_descriptors.rows());
  const cv::Mat pixels = gray.isContinuous() ? gray : gray.clone();

  Transaction transaction(db_);
  VIGIL_CHECK(!HasFrame(name), "{}: frame {} is already in the map (frame names must be unique)",
              file, name);
  Statement next = db_.Prepare("SELECT COALESCE(MAX(frame_index) + 1, 0) FROM frames");
  next.Step();
  const int index = static_cast<int>(next.Int(0));

  Statement frame = db_.Prepare(
      "INSERT INTO frames (frame_index, run_index, name, width, height, timestamp, x, y, z, qx, "
      "qy, "
      "qz, qw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  frame.Bind(1, index)
      .Bind(2, record.run)
      .Bind(3, name)
      .Bind(4, record.width)
      .Bind(5, record.height);
  frame.Bind(6, record.frame.timestamp);
  if (record.frame.pose) {
    const Eigen::Vector3d& t = record.frame.pose->position;
    const Eigen::Quaterniond& q = record.frame.pose->orientation;
    frame.Bind(7, t.x()).Bind(8, t.y()).Bind(9, t.z());
    frame.Bind(10, q.x()).Bind(11, q.y()).Bind(12, q.z()).Bind(13, q.w());
  } else {
    for (int i = 7; i <= 13; ++i) frame.BindNull(i);
  }
  frame.Run();

  Statement f = db_.Prepare(
      "INSERT INTO features (frame_index, extractor, image_width, image_height, keypoint_rows, "
      "score_rows, descriptor_rows, descriptor_cols, binary_rows, binary_cols, keypoints, scores, "
      "descriptors, binary_descriptors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  f.Bind(1, index)
      .Bind(2, features.extractor)
      .Bind(3, features.image_width)
      .Bind(4, features.image_height);
  f.Bind(5, static_cast<int64_t>(features.keypoints.rows()));
  f.Bind(6, static_cast<int64_t>(features.scores.size()));
  f.Bind(7, static_cast<int64_t>(features.descriptors.rows()));
  f.Bind(8, static_cast<int64_t>(features.descriptors.cols()));
  f.Bind(9, static_cast<int64_t>(features.binary_descriptors.rows()));
  f.Bind(10, static_cast<int64_t>(features.binary_descriptors.cols()));
  BindMatrix(f, 11, features.keypoints.data(), features.keypoints.size());
  BindMatrix(f, 12, features.scores.data(), features.scores.size());
  BindMatrix(f, 13, features.descriptors.data(), features.descriptors.size());
  BindMatrix(f, 14, features.binary_descriptors.data(), features.binary_descriptors.size());
  f.Run();

  Statement g =
      db_.Prepare("INSERT INTO global_descriptors (frame_index, dim, data) VALUES (?, ?, ?)");
  g.Bind(1, index).Bind(2, static_cast<int64_t>(global_descriptor.size()));
  BindMatrix(g, 3, global_descriptor.data(), static_cast<int64_t>(global_descriptor.size()));
  g.Run();

  Statement image =
      db_.Prepare("INSERT INTO gray_images (frame_index, width, height, data) VALUES (?, ?, ?, ?)");
  image.Bind(1, index).Bind(2, pixels.cols).Bind(3, pixels.rows);
  BindMatrix(image, 4, pixels.data, static_cast<int64_t>(pixels.total()));
  image.Run();
  if (deep) InsertDeepFeatures(index, *deep);
  transaction.Commit();
  return index;
}

void MapStore::InsertDeepFeatures(int index, const StoredDeepFeatures& deep) {
  const std::string what = fmt::format("{}: frame {} deep features", path().string(), index);
  const dense::DeepFeatures& f = deep.features;
  VIGIL_CHECK(!deep.key.empty() && !f.empty() && f.taps.size() == f.maps.size(), "{}: {} taps, {} maps, key '{}'",
              what, f.taps.size(), f.maps.size(), deep.key);
  Statement insert = db_.Prepare(
      "INSERT INTO deep_features (frame_index, key, tap_order, tap, image_width, image_height, "
      "channels, height, width, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (size_t t = 0; t < f.maps.size(); ++t) {
    const spade::FeatureMap& m = f.maps[t];
    VIGIL_CHECK(m.data.size() == static_cast<size_t>(m.channels) * m.height * m.width,
                "{}: tap {} holds {} values for {}x{}x{}", what, f.taps[t], m.data.size(), m.height,
                m.width, m.channels);
    insert.Bind(1, index).Bind(2, deep.key).Bind(3, static_cast<int64_t>(t)).Bind(4, f.taps[t]);
    insert.Bind(5, f.image_size.width).Bind(6, f.image_size.height);
    insert.Bind(7, m.channels).Bind(8, m.height).Bind(9, m.width);
    BindMatrix(insert, 10, m.data.data(), static_cast<int64_t>(m.data.size()));
    insert.Run();
    insert.Reset();
  }
}

void MapStore::AddDeepFeatures(int index, const StoredDeepFeatures& deep) {
  Transaction transaction(db_);
  VIGIL_CHECK(index >= 0 && index < NumFrames(), "{}: no frame {} to add deep features to",
              path().string(), index);
  VIGIL_CHECK(!HasDeepFeatures(index, deep.key), "{}: frame {} has deep features under key {} already",
              path().string(), index, deep.key);
  InsertDeepFeatures(index, deep);
  transaction.Commit();
}

bool MapStore::HasDeepFeatures(int index, const std::string& key) const {
  if (!HasTable(db_, "deep_features")) return false;
  Statement s = db_.Prepare("SELECT COUNT(*) FROM deep_features WHERE frame_index = ? AND key = ?");
  s.Bind(1, index).Bind(2, key);
  s.Step();
  return s.Int(0) > 0;
}

std::vector<std::string> MapStore::DeepFeatureKeys() const {
  std::vector<std::string> keys;
  if (!HasTable(db_, "deep_features")) return keys;
  Statement s = db_.Prepare("SELECT DISTINCT key FROM deep_features ORDER BY key");
  while (s.Step()) keys.push_back(s.Text(0));
  return keys;
}

std::optional<dense::DeepFeatures> MapStore::LoadDeepFeatures(int index, const std::string& key) const {
  if (!HasTable(db_, "deep_features")) return std::nullopt;
  const std::string what = fmt::format("{}: frame {} deep features", path().string(), index);
  Statement s = db_.Prepare(
      "SELECT tap_order, tap, image_width, image_height, channels, height, width, data FROM "
      "deep_features WHERE frame_index = ? AND key = ? ORDER BY tap_order");
  s.Bind(1, index).Bind(2, key);
  dense::DeepFeatures out;
  while (s.Step()) {
    VIGIL_CHECK(s.Int(0) == static_cast<int64_t>(out.maps.size()), "{}: tap order {} where {} was due",
                what, s.Int(0), out.maps.size());
    const cv::Size image(static_cast<int>(s.Int(2)), static_cast<int>(s.Int(3)));
    VIGIL_CHECK(image.width > 0 && image.height > 0 && (out.maps.empty() || image == out.image_size),
                "{}: image size {}x{}", what, image.width, image.height);
    const int64_t channels = s.Int(4), height = s.Int(5), width = s.Int(6);
    VIGIL_CHECK(channels > 0 && height > 0 && width > 0 && channels <= std::numeric_limits<int32_t>::max() &&
                    height * width <= std::numeric_limits<int32_t>::max(),
                "{}: tap {} of size {}x{}x{}", what, s.Text(1), height, width, channels);
    CheckStoredShape(s, 7, height * width, channels, sizeof(float), what + " " + s.Text(1));
    spade::FeatureMap m;
    m.channels = static_cast<int>(channels);
    m.height = static_cast<int>(height);
    m.width = static_cast<int>(width);
    m.data.resize(static_cast<size_t>(height * width * channels));
    ReadBlob(s, 7, static_cast<int64_t>(m.data.size()), m.data.data(), what);
    out.taps.push_back(s.Text(1));
    out.maps.push_back(std::move(m));
    out.image_size = image;
  }
  if (out.maps.empty()) return std::nullopt;
  return out;
}

Features MapStore::LoadFeatures(int index, const std::string& extractor) const {
  const std::string what = fmt::format("{}: frame {} features", path().string(), index);
  Statement s = db_.Prepare(
      "SELECT extractor, image_width, image_height, keypoint_rows, score_rows, descriptor_rows, "
      "descriptor_cols, binary_rows, binary_cols, keypoints, scores, descriptors, "
      "binary_descriptors FROM features WHERE frame_index = ?1 AND (?2 = '' OR extractor = ?2) "
      "ORDER BY extractor");
  s.Bind(1, index).Bind(2, extractor);
  VIGIL_CHECK(s.Step(), "{}: no features{} in the map", what,
              extractor.empty() ? "" : " by extractor " + extractor);
  Features out;
  out.extractor = s.Text(0);
  out.image_width = static_cast<int>(s.Int(1));
  out.image_height = static_cast<int>(s.Int(2));
  ReadMatrix(s, 9, s.Int(3), 2, &out.keypoints, what + " keypoints");
  ReadMatrix(s, 10, s.Int(4), 1, &out.scores, what + " scores");
  ReadMatrix(s, 11, s.Int(5), s.Int(6), &out.descriptors, what + " descriptors");
  ReadMatrix(s, 12, s.Int(7), s.Int(8), &out.binary_descriptors, what + " binary descriptors");
  if (extractor.empty()) {
    const std::string first = out.extractor;
    VIGIL_CHECK(!s.Step(), "{}: features by several extractors ({}, {}, ...): name one", what,
                first, s.Text(0));
  }
  return out;
}

std::vector<float> MapStore::LoadGlobalDescriptor(int index) const {
  const std::string what = fmt::format("{}: frame {} global descriptor", path().string(), index);
  Statement s = db_.Prepare("SELECT dim, data FROM global_descriptors WHERE frame_index = ?");
  s.Bind(1, index);
  VIGIL_CHECK(s.Step(), "{}: not in the map", what);
  CheckStoredShape(s, 1, s.Int(0), 1, sizeof(float), what);
  std::vector<float> out(static_cast<size_t>(s.Int(0)));
  ReadBlob(s, 1, static_cast<int64_t>(out.size()), out.data(), what);
  return out;
}

cv::Mat MapStore::LoadGray(int index) const {
  const std::string what = fmt::format("{}: frame {} gray image", path().string(), index);
  Statement s = db_.Prepare("SELECT width, height, data FROM gray_images WHERE frame_index = ?");
  s.Bind(1, index);
  VIGIL_CHECK(s.Step(), "{}: not in the map", what);
  VIGIL_CHECK(s.Int(0) > 0 && s.Int(1) > 0, "{}: size {}x{}", what, s.Int(0), s.Int(1));
  CheckStoredShape(s, 2, s.Int(1), s.Int(0), 1, what);
  cv::Mat gray(static_cast<int>(s.Int(1)), static_cast<int>(s.Int(0)), CV_8UC1);
  ReadBlob(s, 2, static_cast<int64_t>(gray.total()), gray.data, what);
  return gray;
}

void MapStore::SetCalibration(const json& calibration) {
  VIGIL_CHECK(calibration.is_object(), "{}: the calibration must be a JSON object",
              path().string());
  SetMeta("calibration", calibration.dump());
}

std::optional<json> MapStore::Calibration() const {
  const std::optional<std::string> text = Meta("calibration");
  if (!text) return std::nullopt;
  try {
    return json::parse(*text);
  } catch (const json::exception& e) {
    ThrowError(fmt::format("{}: the map's calibration is not JSON: {}", path().string(), e.what()));
  }
}

bool MapStore::Checkpoint() {
  Statement s = db_.Prepare("PRAGMA wal_checkpoint(TRUNCATE)");
  // One row: busy (1 when readers blocked it), WAL frames, frames checkpointed.
  return s.Step() && s.Int(0) == 0;
}

MapStats MapStore::Stats() const {
  MapStats stats;
  Statement frames =
      db_.Prepare("SELECT COUNT(*), COUNT(x), COUNT(DISTINCT run_index) FROM frames");
  frames.Step();
  stats.num_frames = static_cast<int>(frames.Int(0));
  stats.num_posed = static_cast<int>(frames.Int(1));
  stats.num_runs = static_cast<int>(frames.Int(2));
  Statement features = db_.Prepare("SELECT COALESCE(AVG(keypoint_rows), 0) FROM features");
  features.Step();
  stats.mean_keypoints = features.Double(0);
  Statement extractors = db_.Prepare("SELECT DISTINCT extractor FROM features ORDER BY extractor");
  while (extractors.Step()) stats.extractors.push_back(extractors.Text(0));
  stats.has_calibration = Meta("calibration").has_value();
  if (HasTable(db_, "deep_features")) {
    Statement deep = db_.Prepare("SELECT COUNT(DISTINCT frame_index), COUNT(DISTINCT key) FROM deep_features");
    deep.Step();
    stats.num_deep_feature_frames = static_cast<int>(deep.Int(0));
    stats.num_deep_feature_keys = static_cast<int>(deep.Int(1));
  }
  return stats;
}

std::string MapStore::IntegrityCheck() const {
  std::string out;
  try {
    Statement s = db_.Prepare("PRAGMA integrity_check");
    while (s.Step()) out += (out.empty() ? "" : "\n") + s.Text(0);
  } catch (const Error& e) {
    return e.what();  // a page SQLite cannot even read (SQLITE_CORRUPT) is the answer too
  }
  return out;
}

}  // namespace vigil::map
