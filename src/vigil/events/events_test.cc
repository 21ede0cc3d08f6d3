#include "vigil/events/events.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil::events {
namespace {

// Query -> reference homography of frame k: the camera moved `step` pixels to the right per
// frame, zoomed by 2 % per frame and tilted slightly (a projective term), so the same object
// lands at a different place in every query image but at one place in the reference.
cv::Mat FrameHomography(int k, double step = 60) {
  const double s = 1.0 + 0.02 * k;
  cv::Mat h = (cv::Mat_<double>(3, 3) << s, 0, -step * k, 0, s, 5.0 * k, 1e-5 * k, 0, 1);
  return h;
}

// The query box of a reference box seen in frame k: the bounds of its corners mapped through
// the inverse homography (what the detector would report in that query).
cv::Rect QueryBox(const cv::Rect& reference_box, const cv::Mat& query_to_reference) {
  const cv::Rect2d r = WarpBox(cv::Rect2d(reference_box), query_to_reference.inv());
  return cv::Rect(cvRound(r.x), cvRound(r.y), cvRound(r.width), cvRound(r.height));
}

Observation Seen(int frame, const cv::Rect& reference_box, const std::string& kind = "new",
                 int reference = 0) {
  Observation o;
  o.frame = frame;
  o.anomaly = 0;
  o.reference = reference;
  o.query_to_reference = FrameHomography(frame);
  o.bbox = QueryBox(reference_box, o.query_to_reference);
  o.kind = kind;
  o.score = 0.5 + 0.1 * frame;
  return o;
}

std::set<std::set<int>> Groups(const std::vector<ChangeEvent>& events) {
  std::set<std::set<int>> out;
  for (const auto& e : events) out.insert({e.observations.begin(), e.observations.end()});
  return out;
}

TEST(Events, WarpBoxOfTranslationShiftsTheBox) {
  const cv::Mat t = (cv::Mat_<double>(3, 3) << 1, 0, 7, 0, 1, -3, 0, 0, 1);
  const cv::Rect2d r = WarpBox({10, 20, 30, 40}, t);
  EXPECT_DOUBLE_EQ(r.x, 17);
  EXPECT_DOUBLE_EQ(r.y, 17);
  EXPECT_DOUBLE_EQ(r.width, 30);
  EXPECT_DOUBLE_EQ(r.height, 40);
  // A corner behind the camera: no box.
  const cv::Mat behind = (cv::Mat_<double>(3, 3) << 1, 0, 0, 0, 1, 0, -0.1, 0, 1);
  EXPECT_TRUE(WarpBox({0, 0, 20, 20}, behind).empty());
}

TEST(Events, OverlapOfSmallerIsOneForANestedBox) {
  EXPECT_DOUBLE_EQ(OverlapOfSmaller({0, 0, 100, 100}, {10, 10, 20, 20}), 1.0);
  EXPECT_DOUBLE_EQ(OverlapOfSmaller({0, 0, 10, 10}, {5, 0, 10, 10}), 0.5);
  EXPECT_DOUBLE_EQ(OverlapOfSmaller({0, 0, 10, 10}, {20, 0, 10, 10}), 0.0);
  EXPECT_DOUBLE_EQ(OverlapOfSmaller({0, 0, 0, 0}, {0, 0, 10, 10}), 0.0);
}

TEST(Events, BoxTrackedOverFiveFramesIsOneEvent) {
  const cv::Rect object(200, 150, 40, 40);
  std::vector<Observation> obs;
  for (int k = 0; k < 5; ++k) obs.push_back(Seen(k, object));
  // The camera moves 60 px per frame and the box is 40 px wide: the query boxes of
  // consecutive frames do not overlap at all, only the warp into the reference links them.
  for (int k = 0; k + 1 < 5; ++k) {
    ASSERT_EQ((obs[k].bbox & obs[k + 1].bbox).area(), 0) << k;
  }
  const auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first_frame, 0);
  EXPECT_EQ(events[0].last_frame, 4);
  EXPECT_EQ(events[0].observations, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(events[0].best_observation, 4);  // scores rise with the frame
  EXPECT_DOUBLE_EQ(events[0].max_score, 0.9);
  EXPECT_EQ(events[0].kind, "new");

  // Without the homographies the fallback compares query boxes, which do not overlap.
  for (auto& o : obs) o.query_to_reference = cv::Mat();
  EXPECT_EQ(GroupIntoEvents(obs).size(), 5u);
}

TEST(Events, TwoSeparateObjectsAreTwoEvents) {
  const cv::Rect left(100, 150, 40, 40), right(300, 150, 40, 40);
  std::vector<Observation> obs;
  for (int k = 0; k < 5; ++k) {
    obs.push_back(Seen(k, left));
    obs.push_back(Seen(k, right));
    obs.back().anomaly = 1;
  }
  const auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Groups(events), (std::set<std::set<int>>{{0, 2, 4, 6, 8}, {1, 3, 5, 7, 9}}));
  // Same first frame: numbered by the smallest observation index.
  EXPECT_EQ(events[0].observations.front(), 0);
  EXPECT_EQ(events[1].observations.front(), 1);
}

TEST(Events, GapLongerThanMaxGapSplitsTheEvent) {
  const cv::Rect object(200, 150, 40, 40);
  EventOptions options;
  options.max_gap_frames = 2;
  // Frames 0, 1, then 4, 5: two frames in between missed it = max_gap_frames: one event.
  std::vector<Observation> within = {Seen(0, object), Seen(1, object), Seen(4, object),
                                     Seen(5, object)};
  EXPECT_EQ(GroupIntoEvents(within, options).size(), 1u);
  // Frames 0, 1, then 5, 6: three frames in between: two events.
  std::vector<Observation> beyond = {Seen(0, object), Seen(1, object), Seen(5, object),
                                     Seen(6, object)};
  const auto events = GroupIntoEvents(beyond, options);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].last_frame, 1);
  EXPECT_EQ(events[1].first_frame, 5);
  // max_gap_frames = 0: only consecutive frames link.
  options.max_gap_frames = 0;
  EXPECT_EQ(GroupIntoEvents(within, options).size(), 2u);
}

TEST(Events, DifferentKindsNeverMerge) {
  const cv::Rect object(200, 150, 40, 40);
  std::vector<Observation> obs;
  for (int k = 0; k < 5; ++k) {
    obs.push_back(Seen(k, object, "new"));
    obs.push_back(Seen(k, object, "missing"));
    obs.back().anomaly = 1;
  }
  const auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_EQ(e.observations.size(), 5u);
    for (int i : e.observations) EXPECT_EQ(obs[i].kind, e.kind);
  }
  EXPECT_NE(events[0].kind, events[1].kind);
}

TEST(Events, FallbackComparesQueryBoxesOfNearbyFramesOnly) {
  // Each frame compared with its own reference: no common frame, the query boxes decide.
  std::vector<Observation> obs;
  for (int k : {0, 1, 3}) {
    Observation o;
    o.frame = k;
    o.anomaly = 0;
    o.reference = k;  // different references
    o.query_to_reference = FrameHomography(k);
    o.bbox = cv::Rect(100 + 5 * k, 100, 50, 50);  // small inter-frame motion
    o.kind = "new";
    obs.push_back(o);
  }
  // 0-1 overlap in the query images; 1-3 overlap too but are 2 frames apart, beyond
  // fallback_max_frames = 1, so frame 3 stays alone.
  EXPECT_EQ(Groups(GroupIntoEvents(obs)), (std::set<std::set<int>>{{0, 1}, {2}}));
  EventOptions wider;
  wider.fallback_max_frames = 2;
  EXPECT_EQ(GroupIntoEvents(obs, wider).size(), 1u);
}

TEST(Events, PositionsFarApartDoNotLink) {
  const cv::Rect object(200, 150, 40, 40);
  std::vector<Observation> obs = {Seen(0, object), Seen(1, object), Seen(2, object)};
  obs[0].position = Eigen::Vector3d(0, 0, 0);
  obs[1].position = Eigen::Vector3d(0.5, 0, 0);
  obs[2].position = Eigen::Vector3d(10.5, 0, 0);  // a different place that looks alike
  // Frame 2 is 10 m from frame 1 and 10.5 m from frame 0: two events.
  const auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].observations, (std::vector<int>{0, 1}));
  ASSERT_TRUE(events[0].position.has_value());
  EXPECT_NEAR((*events[0].position - Eigen::Vector3d(0.25, 0, 0)).norm(), 0, 1e-12);
  EventOptions off;
  off.max_position_distance_m = 0;
  EXPECT_EQ(GroupIntoEvents(obs, off).size(), 1u);
}

TEST(Events, KnownDifferentLabelsDoNotLinkAndTheMajorityNamesTheEvent) {
  const cv::Rect object(200, 150, 40, 40);
  std::vector<Observation> obs = {Seen(0, object), Seen(1, object), Seen(2, object),
                                  Seen(3, object)};
  obs[0].label = "chair";
  obs[1].label = "unknown";  // no class: links with anything
  obs[2].label = "chair";
  obs[3].label = "person";
  // 3 cannot link with 2 (chair) but can with 1 (unknown, 1 frame in between): labels only
  // block direct links, so everything still forms one chain through frame 1.
  auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].label, "chair");
  obs[1].label = "chair";
  events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].label, "person");
  EventOptions any;
  any.require_same_label = false;
  EXPECT_EQ(GroupIntoEvents(obs, any).size(), 1u);
}

TEST(Events, ResultDoesNotDependOnInputOrder) {
  const unsigned seed = 20261203;
  std::mt19937 rng(seed);
  std::vector<Observation> obs;
  const cv::Rect objects[3] = {{80, 100, 40, 40}, {260, 120, 40, 40}, {420, 300, 40, 40}};
  for (int k = 0; k < 8; ++k) {
    for (int j = 0; j < 3; ++j) {
      if ((k + j) % 4 == 3) continue;  // missed now and then
      obs.push_back(Seen(k, objects[j]));
      obs.back().anomaly = j;
    }
  }
  const auto expected = GroupIntoEvents(obs);
  ASSERT_EQ(expected.size(), 3u) << "seed " << seed;
  std::vector<int> perm(obs.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<Observation> shuffled;
  for (int i : perm) shuffled.push_back(obs[i]);
  std::set<std::set<int>> mapped;
  for (const auto& e : GroupIntoEvents(shuffled)) {
    std::set<int> group;
    for (int i : e.observations) group.insert(perm[i]);
    mapped.insert(group);
  }
  EXPECT_EQ(mapped, Groups(expected)) << "seed " << seed;
}

TEST(Events, BadOptionsThrowNamingFieldAndValue) {
  auto message = [](const EventOptions& o) {
    try {
      o.Check();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EventOptions o;
  EXPECT_NO_THROW(o.Check());
  o.max_gap_frames = -1;
  EXPECT_NE(message(o).find("events.max_gap_frames"), std::string::npos) << message(o);
  EXPECT_NE(message(o).find("-1"), std::string::npos) << message(o);
  o = {};
  o.min_overlap = 1.5;
  EXPECT_NE(message(o).find("events.min_overlap"), std::string::npos) << message(o);
  EXPECT_NE(message(o).find("1.5"), std::string::npos) << message(o);
  o = {};
  o.fallback_max_frames = 0;
  EXPECT_NE(message(o).find("events.fallback_max_frames"), std::string::npos) << message(o);
  o = {};
  o.max_position_distance_m = -2;
  EXPECT_NE(message(o).find("events.max_position_distance_m"), std::string::npos) << message(o);
  // GroupIntoEvents checks its options too.
  o = {};
  o.min_overlap = -0.1;
  EXPECT_THROW(GroupIntoEvents({}, o), Error);
}

TEST(Events, OptionsSerialiseEveryFieldAndRejectUnknownKeys) {
  EventOptions o;
  o.max_gap_frames = 5;
  o.require_same_label = false;
  const nlohmann::json j = OptionsToJson(o);
  EXPECT_EQ(j.size(), 5u);
  EXPECT_EQ(j["max_gap_frames"], 5);
  EventOptions back;
  OptionsFromJson(j, &back);
  EXPECT_EQ(back.max_gap_frames, 5);
  EXPECT_FALSE(back.require_same_label);
  EXPECT_THROW(OptionsFromJson({{"max_gap", 1}}, &back), Error);
}

TEST(Events, BadObservationsThrow) {
  Observation o;
  o.kind = "new";
  o.frame = -1;
  EXPECT_THROW(GroupIntoEvents({o}), Error);
  o.frame = 0;
  o.query_to_reference = cv::Mat::eye(3, 3, CV_32F);
  EXPECT_THROW(GroupIntoEvents({o}), Error);
}

TEST(Events, JsonListsEventsWithQueryNames) {
  const cv::Rect object(200, 150, 40, 40);
  std::vector<Observation> obs = {Seen(0, object), Seen(1, object), Seen(3, object, "missing")};
  obs[1].position = Eigen::Vector3d(1, 2, 3);
  const auto events = GroupIntoEvents(obs);
  ASSERT_EQ(events.size(), 2u);
  const auto j = EventsToJson(events, obs, {"a.png", "b.png", "c.png", "d.png"});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["id"], 0);
  EXPECT_EQ(j[0]["first_query"], "a.png");
  EXPECT_EQ(j[0]["last_query"], "b.png");
  EXPECT_EQ(j[0]["num_frames"], 2);
  EXPECT_EQ(j[0]["position"], nlohmann::json({1.0, 2.0, 3.0}));
  EXPECT_EQ(j[0]["best"]["query"], "b.png");
  EXPECT_EQ(j[0]["observations"].size(), 2u);
  EXPECT_EQ(j[0]["observations"][1]["bbox"],
            nlohmann::json({obs[1].bbox.x, obs[1].bbox.y, obs[1].bbox.width, obs[1].bbox.height}));
  EXPECT_EQ(j[1]["kind"], "missing");
  EXPECT_TRUE(j[1]["position"].is_null());
  EXPECT_EQ(j[1]["first_query"], "d.png");
  EXPECT_THROW(EventsToJson(events, obs, {"a.png"}), Error);  // frame 3 has no name
}

}  // namespace
}  // namespace vigil::events
