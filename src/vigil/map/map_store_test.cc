#include "vigil/map/map_store.h"

#include <cstring>
#include <fstream>
#include <random>
#include <tuple>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "vigil/util/testing.h"

namespace vigil::map {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json Identity(int max_keypoints) {
  return {
      {"schema", 1},
      {"extractor", "orb"},
      {"options", {{"extractor", {{"type", "orb"}, {"orb", {{"max_keypoints", max_keypoints}}}}}}},
      {"models", json::array()}};
}

// Random features of n keypoints: float descriptors of dim d, or binary ones of b bytes.
Features RandomFeatures(std::mt19937& rng, int n, int d, int b) {
  std::uniform_real_distribution<float> u(-1000.f, 1000.f);
  Features f;
  f.extractor = b > 0 ? "orb" : "sift";
  f.image_width = 640;
  f.image_height = 480;
  f.keypoints.resize(n, 2);
  f.scores.resize(n);
  for (int i = 0; i < n; ++i) {
    f.keypoints(i, 0) = u(rng);
    f.keypoints(i, 1) = u(rng);
    f.scores(i) = u(rng) * 1e-7f;  // tiny values: lossy text storage would show here
  }
  if (b > 0) {
    f.binary_descriptors.resize(n, b);
    for (int i = 0; i < f.binary_descriptors.size(); ++i)
      f.binary_descriptors.data()[i] = rng() & 0xff;
  } else {
    f.descriptors.resize(n, d);
    for (int i = 0; i < f.descriptors.size(); ++i) f.descriptors.data()[i] = u(rng);
  }
  return f;
}

cv::Mat RandomGray(std::mt19937& rng, int w, int h) {
  cv::Mat g(h, w, CV_8UC1);
  for (size_t i = 0; i < g.total(); ++i) g.data[i] = rng() & 0xff;
  return g;
}

template <class M>
bool SameMatrix(const M& a, const M& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(*a.data())) == 0);
}

void ExpectSameFeatures(const Features& a, const Features& b) {
  EXPECT_EQ(a.extractor, b.extractor);
  EXPECT_EQ(a.image_width, b.image_width);
  EXPECT_EQ(a.image_height, b.image_height);
  EXPECT_TRUE(SameMatrix(a.keypoints, b.keypoints));
  EXPECT_TRUE(SameMatrix(a.scores, b.scores));
  EXPECT_TRUE(SameMatrix(a.descriptors, b.descriptors));
  EXPECT_TRUE(SameMatrix(a.binary_descriptors, b.binary_descriptors));
}

MapFrameRecord Record(const std::string& name, int w, int h) {
  MapFrameRecord r;
  r.frame.image = name;
  r.width = w;
  r.height = h;
  return r;
}

TEST(MapStore, RoundTripIsBitIdentical) {
  const fs::path path = testing::MakeTempDir("map_roundtrip") / "site.vmap";
  std::mt19937 rng(7);
  struct Frame {
    MapFrameRecord record;
    Features features;
    std::vector<float> global;
    cv::Mat gray;
  };
  std::vector<Frame> frames;
  {
    Frame f{Record("a.png", 64, 48), RandomFeatures(rng, 300, 128, 0), {}, RandomGray(rng, 64, 48)};
    retrieval::Pose pose;
    pose.position = {1.0 / 3, -2e-9, 1e6 + 0.1};
    pose.orientation = Eigen::Quaterniond(0.1, 0.2, -0.3, 0.9).normalized();
    f.record.frame.pose = pose;
    f.record.frame.timestamp = 1341847980.722988;
    frames.push_back(f);
  }
  frames.push_back(
      {Record("b.png", 33, 17), RandomFeatures(rng, 50, 0, 32), {}, RandomGray(rng, 33, 17)});
  // No keypoints at all: the 0 x 256 shape must come back, not 0 x 0.
  Features empty;
  empty.extractor = "superpoint";
  empty.keypoints.resize(0, 2);
  empty.descriptors.resize(0, 256);
  frames.push_back({Record("c.png", 8, 8), empty, {}, RandomGray(rng, 8, 8)});
  for (Frame& f : frames) {
    std::uniform_real_distribution<float> u(-1, 1);
    for (int i = 0; i < 400; ++i) f.global.push_back(u(rng));
  }
  {
    MapStore store = MapStore::Create(path, Identity(500));
    store.AddRun("/some/run", "poses.csv");
    for (size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(
          store.AddFrame(frames[i].record, frames[i].features, frames[i].global, frames[i].gray),
          static_cast<int>(i));
    }
    store.SetCalibration({{"threshold", 0.25}});
  }
  const MapStore store = MapStore::OpenReadOnly(path);
  EXPECT_EQ(store.schema_version(), kMapSchemaVersion);
  EXPECT_EQ(store.vigil_version(), VIGIL_TEST_VERSION);
  EXPECT_EQ(store.build_identity(), Identity(500));
  EXPECT_EQ(store.IntegrityCheck(), "ok");
  ASSERT_TRUE(store.Calibration().has_value());
  EXPECT_EQ(*store.Calibration(), json({{"threshold", 0.25}}));
  const std::vector<MapFrameRecord> stored = store.Frames();
  ASSERT_EQ(stored.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(frames[i].record.frame.image.string());
    const MapFrameRecord& want = frames[i].record;
    EXPECT_EQ(stored[i].index, static_cast<int>(i));
    EXPECT_EQ(stored[i].frame.image, want.frame.image);
    EXPECT_EQ(stored[i].width, want.width);
    EXPECT_EQ(stored[i].height, want.height);
    ASSERT_EQ(stored[i].frame.timestamp.has_value(), want.frame.timestamp.has_value());
    if (want.frame.timestamp) {
      EXPECT_EQ(*stored[i].frame.timestamp, *want.frame.timestamp);
    }
    ASSERT_EQ(stored[i].frame.pose.has_value(), want.frame.pose.has_value());
    if (want.frame.pose) {
      EXPECT_EQ(stored[i].frame.pose->position, want.frame.pose->position);
      EXPECT_EQ(stored[i].frame.pose->orientation.coeffs(), want.frame.pose->orientation.coeffs());
    }
    ExpectSameFeatures(store.LoadFeatures(static_cast<int>(i)), frames[i].features);
    EXPECT_EQ(store.LoadGlobalDescriptor(static_cast<int>(i)), frames[i].global);
    const cv::Mat gray = store.LoadGray(static_cast<int>(i));
    ASSERT_EQ(gray.size(), frames[i].gray.size());
    EXPECT_EQ(cv::norm(gray, frames[i].gray, cv::NORM_INF), 0);
  }
  const MapStats stats = store.Stats();
  EXPECT_EQ(stats.num_frames, 3);
  EXPECT_EQ(stats.num_posed, 1);
  EXPECT_EQ(stats.num_runs, 1);
  EXPECT_DOUBLE_EQ(stats.mean_keypoints, (300 + 50 + 0) / 3.0);
  EXPECT_TRUE(stats.has_calibration);
  EXPECT_EQ(store.Runs().at(0).pose_source, "poses.csv");
}

dense::DeepFeatures RandomDeep(std::mt19937& rng, cv::Size image) {
  std::uniform_real_distribution<float> u(-1, 1);
  dense::DeepFeatures f;
  f.image_size = image;
  for (const auto& [tap, c, h, w] : {std::tuple<const char*, int, int, int>{"s4x", 5, 7, 9}, {"s8x", 3, 4, 5}}) {
    spade::FeatureMap m;
    m.channels = c;
    m.height = h;
    m.width = w;
    for (int k = 0; k < c * h * w; ++k) m.data.push_back(u(rng));
    f.taps.push_back(tap);
    f.maps.push_back(std::move(m));
  }
  return f;
}

void ExpectSameDeep(const dense::DeepFeatures& a, const dense::DeepFeatures& b) {
  EXPECT_EQ(a.taps, b.taps);
  EXPECT_EQ(a.image_size, b.image_size);
  ASSERT_EQ(a.maps.size(), b.maps.size());
  for (size_t t = 0; t < a.maps.size(); ++t) {
    EXPECT_EQ(a.maps[t].channels, b.maps[t].channels);
    EXPECT_EQ(a.maps[t].height, b.maps[t].height);
    EXPECT_EQ(a.maps[t].width, b.maps[t].width);
    EXPECT_EQ(a.maps[t].data, b.maps[t].data);  // bit-identical floats
  }
}

// Deep features stored with a frame, or added to it later, come back bit-identical under their
// key and under no other; a frame without them, or another key, has none (the inspection then
// computes them).
TEST(MapStore, DeepFeaturesRoundTripUnderTheirKeyOnly) {
  const fs::path path = testing::MakeTempDir("map_deep") / "site.vmap";
  std::mt19937 rng(11);
  const StoredDeepFeatures a{"key1", RandomDeep(rng, {64, 48})};
  const StoredDeepFeatures later{"key1", RandomDeep(rng, {33, 17})};
  const StoredDeepFeatures other{"key2", RandomDeep(rng, {33, 17})};
  {
    MapStore store = MapStore::Create(path, Identity(500));
    store.AddRun("/some/run", "none");
    store.AddFrame(Record("a.png", 64, 48), RandomFeatures(rng, 10, 8, 0), {1.f}, RandomGray(rng, 64, 48), &a);
    store.AddFrame(Record("b.png", 33, 17), RandomFeatures(rng, 10, 8, 0), {1.f}, RandomGray(rng, 33, 17));
    EXPECT_FALSE(store.HasDeepFeatures(1, "key1"));
    store.AddDeepFeatures(1, later);
    store.AddDeepFeatures(1, other);
    EXPECT_NE(testing::ErrorOf([&] { store.AddDeepFeatures(1, later); }).find("already"), std::string::npos);
    EXPECT_NE(testing::ErrorOf([&] { store.AddDeepFeatures(5, later); }).find("no frame 5"), std::string::npos);
  }
  const MapStore store = MapStore::OpenReadOnly(path);
  ASSERT_TRUE(store.LoadDeepFeatures(0, "key1").has_value());
  ExpectSameDeep(*store.LoadDeepFeatures(0, "key1"), a.features);
  ExpectSameDeep(*store.LoadDeepFeatures(1, "key1"), later.features);
  ExpectSameDeep(*store.LoadDeepFeatures(1, "key2"), other.features);
  EXPECT_FALSE(store.LoadDeepFeatures(0, "key2").has_value());
  EXPECT_FALSE(store.LoadDeepFeatures(0, "").has_value());
  EXPECT_EQ(store.DeepFeatureKeys(), (std::vector<std::string>{"key1", "key2"}));
  const MapStats stats = store.Stats();
  EXPECT_EQ(stats.num_deep_feature_frames, 2);
  EXPECT_EQ(stats.num_deep_feature_keys, 2);
  EXPECT_EQ(store.IntegrityCheck(), "ok");
}

TEST(MapStore, DuplicateFrameNameIsRefusedByName) {
  const fs::path path = testing::MakeTempDir("map_duplicate") / "site.vmap";
  std::mt19937 rng(1);
  MapStore store = MapStore::Create(path, Identity(500));
  store.AddRun("/run", "none");
  store.AddFrame(Record("dup.png", 8, 8), RandomFeatures(rng, 3, 0, 32), {}, RandomGray(rng, 8, 8));
  const std::string error = testing::ErrorOf([&] {
    store.AddFrame(Record("dup.png", 8, 8), RandomFeatures(rng, 3, 0, 32), {},
                   RandomGray(rng, 8, 8));
  });
  EXPECT_NE(error.find("dup.png"), std::string::npos) << error;
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_EQ(store.NumFrames(), 1);  // the failed frame left nothing behind
}

TEST(MapStore, NonMapFilesAreRefusedNamingTheFile) {
  const fs::path dir = testing::MakeTempDir("map_not_a_map");
  const fs::path text = dir / "notes.vmap";
  std::ofstream(text)
      << "this is not a database, just some text that is long enough to have a header\n";
  std::string error = testing::ErrorOf([&] { MapStore::OpenReadOnly(text); });
  EXPECT_NE(error.find(text.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a vigil map"), std::string::npos) << error;

  // A valid SQLite database that is not a map.
  const fs::path other = dir / "other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x INTEGER)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  error = testing::ErrorOf([&] { MapStore::OpenReadOnly(other); });
  EXPECT_NE(error.find(other.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a vigil map"), std::string::npos) << error;
  // Create() must not take it over either.
  error = testing::ErrorOf([&] { MapStore::Create(other, Identity(500)); });
  EXPECT_NE(error.find("not a vigil map"), std::string::npos) << error;

  error = testing::ErrorOf([&] { MapStore::OpenReadOnly(dir / "missing.vmap"); });
  EXPECT_NE(error.find("missing.vmap"), std::string::npos) << error;
}

TEST(MapStore, TruncatedFileIsRefusedNamingTheFile) {
  const fs::path path = testing::MakeTempDir("map_truncated") / "site.vmap";
  std::mt19937 rng(3);
  {
    MapStore store = MapStore::Create(path, Identity(500));
    store.AddRun("/run", "none");
    for (int i = 0; i < 6; ++i) {
      store.AddFrame(Record("f" + std::to_string(i) + ".png", 320, 240),
                     RandomFeatures(rng, 500, 128, 0), std::vector<float>(100, 0.5f),
                     RandomGray(rng, 320, 240));
    }
  }  // closing checkpoints the WAL into the file
  ASSERT_FALSE(fs::exists(path.string() + "-wal"));
  fs::resize_file(path, fs::file_size(path) / 2);
  const std::string error = testing::ErrorOf([&] { MapStore::OpenReadOnly(path); });
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt or truncated"), std::string::npos) << error;
}

// A map whose size fields disagree with its data (damaged, or written by hand) is refused naming
// the file and the array, before anything is allocated by those sizes: a keypoint count of 2^62
// made LoadFeatures throw std::bad_alloc (found by fuzz_map_store).
TEST(MapStore, SizeFieldsThatDisagreeWithTheDataAreRefused) {
  const fs::path path = testing::MakeTempDir("map_sizes") / "site.vmap";
  std::mt19937 rng(3);
  {
    MapStore store = MapStore::Create(path, Identity(500));
    store.AddRun("/some/run", "poses.csv");
    store.AddFrame(Record("a.png", 16, 8), RandomFeatures(rng, 20, 8, 0), std::vector<float>(4, 0.5f),
                   RandomGray(rng, 16, 8));
  }
  struct Damage {
    const char* sql;
    const char* named;  // in the message
  };
  const Damage damages[] = {
      {"UPDATE features SET keypoint_rows = 4611686018427387904", "keypoints"},
      {"UPDATE features SET keypoint_rows = -1", "keypoints"},
      {"UPDATE features SET score_rows = 21", "scores"},
      {"UPDATE features SET descriptor_rows = 1099511627776, descriptor_cols = 1099511627776", "descriptors"},
      {"UPDATE global_descriptors SET dim = 4611686018427387904", "global descriptor"},
      {"UPDATE gray_images SET width = 2147483647, height = 2147483647", "gray image"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.sql);
    const fs::path copy = path.parent_path() / "damaged.vmap";
    fs::copy_file(path, copy, fs::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(copy.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, d.sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    const MapStore store = MapStore::OpenReadOnly(copy);
    const std::string error = testing::ErrorOf([&] {
      store.LoadFeatures(0);
      store.LoadGlobalDescriptor(0);
      store.LoadGray(0);
    });
    EXPECT_NE(error.find(copy.string()), std::string::npos) << error;
    EXPECT_NE(error.find(d.named), std::string::npos) << error;
  }
}

TEST(MapStore, OtherSchemaVersionIsRefused) {
  const fs::path path = testing::MakeTempDir("map_schema") / "site.vmap";
  { MapStore::Create(path, Identity(500)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string error = testing::ErrorOf([&] { MapStore::OpenReadOnly(path); });
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("schema version 2"), std::string::npos) << error;
}

TEST(MapStore, ResumingWithAnotherIdentityNamesTheDifferingKeys) {
  const fs::path path = testing::MakeTempDir("map_identity") / "site.vmap";
  { MapStore::Create(path, Identity(1024)); }
  EXPECT_NO_THROW(MapStore::Create(path, Identity(1024)));  // same identity: resume
  const std::string error = testing::ErrorOf([&] { MapStore::Create(path, Identity(2048)); });
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("options.extractor.orb.max_keypoints: 1024 vs 2048"), std::string::npos)
      << error;
}

TEST(IdentityDifferences, ListsChangedAddedAndRemovedLeaves) {
  const json a = {{"x", 1}, {"nested", {{"y", "s"}, {"z", true}}}, {"models", {{{"mtime", 5}}}}};
  json b = a;
  EXPECT_TRUE(IdentityDifferences(a, b).empty());
  b["nested"]["y"] = "t";
  b["nested"].erase("z");
  b["w"] = 2.5;
  b["models"][0]["mtime"] = 6;
  const std::vector<std::string> want = {"models[0].mtime: 5 vs 6", "nested.y: \"s\" vs \"t\"",
                                         "nested.z: true vs <absent>", "w: <absent> vs 2.5"};
  EXPECT_EQ(IdentityDifferences(a, b), want);
}

TEST(MapStore, ReadersSeeWholeFramesWhileAWriterAdds) {
  const fs::path path = testing::MakeTempDir("map_concurrent") / "site.vmap";
  std::mt19937 rng(5);
  MapStore writer = MapStore::Create(path, Identity(500));
  writer.AddRun("/run", "none");
  writer.AddFrame(Record("0.png", 16, 16), RandomFeatures(rng, 10, 0, 32), {},
                  RandomGray(rng, 16, 16));
  const MapStore reader1 = MapStore::OpenReadOnly(path);
  const MapStore reader2 = MapStore::OpenReadOnly(path);
  writer.AddFrame(Record("1.png", 16, 16), RandomFeatures(rng, 10, 0, 32), {},
                  RandomGray(rng, 16, 16));
  EXPECT_EQ(reader1.NumFrames(), 2);
  EXPECT_EQ(reader2.LoadFeatures(1).size(), 10);
  EXPECT_EQ(reader1.IntegrityCheck(), "ok");
}

TEST(MapStore, ReadOnlyOpenAfterAKilledWriterSeesItsCommittedFrames) {
  const fs::path path = testing::MakeTempDir("map_killed_writer") / "site.vmap";
  // The child only touches SQLite and plain memory (no OpenCV threads), so fork without exec
  // is safe here; no database is open in the parent at the fork.
  const pid_t pid = fork();
  if (pid == 0) {
    std::mt19937 rng(9);
    MapStore store = MapStore::Create(path, Identity(500));
    store.AddRun("/run", "none");
    for (int i = 0; i < 3; ++i) {
      store.AddFrame(Record(std::to_string(i) + ".png", 16, 16), RandomFeatures(rng, 10, 0, 32), {},
                     RandomGray(rng, 16, 16));
    }
    raise(SIGKILL);  // the WAL is left behind, never checkpointed
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(fs::exists(path.string() + "-wal"));
  const MapStore store = MapStore::OpenReadOnly(path);
  EXPECT_EQ(store.NumFrames(), 3);
  EXPECT_EQ(store.IntegrityCheck(), "ok");
}

}  // namespace
}  // namespace vigil::map
