// vigil bag-extract BAG --image-topic T (--pose-topic P | --tf-frames FIXED CHILD)
//                   [--min-distance M] --out RUN
// Only compiled with VIGIL_ENABLE_ROS (see vigil/ros/bag_run.h for the conventions).
#include <cstdio>
#include <filesystem>

#include "vigil/io/image_io.h"
#include "vigil/ros/bag_run.h"
#include "vigil/util/check.h"

#include "bag_input.h"
#include "cli_common.h"
#include "commands.h"

namespace vigil::cli {

void AddBagInputOptions(CLI::App& app, BagInputFlags& flags) {
  auto* group = app.add_option_group("bag input", "when --reference/--query name ROS 1 bags");
  group->add_option("--image-topic", flags.image_topic,
                    "bag image topic (sensor_msgs/Image or CompressedImage)");
  auto* pose =
      group->add_option("--pose-topic", flags.pose_topic, "bag pose topic (Odometry, PoseStamped)");
  group->add_option("--tf-frames", flags.tf_frames, "bag poses from /tf: FIXED CHILD")
      ->expected(2)
      ->excludes(pose);
  group->add_option("--min-distance", flags.min_distance_m,
                    "bag: one frame per this many metres travelled");
}

std::string RunFolderFor(const std::string& path, const BagInputFlags& flags,
                         const std::string& out_dir, const std::string& role) {
  namespace fs = std::filesystem;
  // A folder, or one image (a single reference: `inspect --reference IMAGE`), is read as it is.
  if (!fs::is_regular_file(path) || io::HasImageExtension(path)) return path;
  VIGIL_CHECK(!flags.image_topic.empty(),
              "{} is a file, not a run folder; to read it as a ROS 1 bag give --image-topic", path);
  const fs::path run = fs::path(out_dir) / "bag_runs" / role;
  if (fs::is_directory(run) && !fs::is_empty(run)) {
    std::fprintf(stderr, "%s: using the run extracted earlier in %s\n", path.c_str(), run.c_str());
    return run.string();
  }
  ros::BagExtractOptions options;
  options.image_topic = flags.image_topic;
  options.pose_topic = flags.pose_topic;
  if (flags.tf_frames.size() == 2) {
    options.tf_fixed_frame = flags.tf_frames[0];
    options.tf_child_frame = flags.tf_frames[1];
  }
  options.min_distance_m = flags.min_distance_m;
  const ros::BagExtractReport report = ros::ExtractBagToRun(path, run, options, &InterruptToken());
  std::fprintf(stderr, "%s -> %s: %s\n", path.c_str(), run.c_str(), report.Summary().c_str());
  return run.string();
}

int RunBagExtract(int argc, char** argv) {
  CLI::App app{
      "Turn a ROS 1 bag into a run folder (PNG images named by their stamp + poses.csv) "
      "for vigil inspect / calibrate: images from sensor_msgs/Image or "
      "CompressedImage, poses from nav_msgs/Odometry, geometry_msgs/PoseStamped or "
      "/tf, interpolated to each image's stamp.",
      "bag-extract"};
  std::string bag, out;
  std::vector<std::string> tf_frames;
  ros::BagExtractOptions options;
  bool quiet = false;
  app.add_option("bag", bag, "the .bag file")->required();
  app.add_option("--image-topic", options.image_topic,
                 "sensor_msgs/Image or sensor_msgs/CompressedImage topic")
      ->required();
  auto* pose = app.add_option("--pose-topic", options.pose_topic,
                              "nav_msgs/Odometry, geometry_msgs/PoseStamped or "
                              "PoseWithCovarianceStamped topic");
  app.add_option("--tf-frames", tf_frames,
                 "poses from /tf: FIXED CHILD (a direct parent-child transform)")
      ->expected(2)
      ->excludes(pose);
  app.add_option("--min-distance", options.min_distance_m,
                 "keep one frame per this many metres travelled (0 = all)")
      ->capture_default_str();
  app.add_option("--max-pose-gap", options.max_pose_gap_s,
                 "interpolate poses across gaps up to this long, seconds")
      ->capture_default_str();
  app.add_option("--pose-tolerance", options.pose_tolerance_s,
                 "otherwise use the nearest pose within this time, seconds")
      ->capture_default_str();
  app.add_flag("--skip-unposed", options.skip_unposed, "do not write images that got no pose");
  app.add_option("--out", out, "run folder to create (must not exist or be empty)")->required();
  app.add_flag("--quiet", quiet, "no progress bar");
  return RunCommand(app, argc, argv, [&] {
    if (tf_frames.size() == 2) {
      options.tf_fixed_frame = tf_frames[0];
      options.tf_child_frame = tf_frames[1];
    }
    options.show_progress = !quiet;
    const ros::BagExtractReport report = ros::ExtractBagToRun(bag, out, options, &InterruptToken());
    std::printf("%s\nrun: %s\n", report.Summary().c_str(), out.c_str());
  });
}

}  // namespace vigil::cli
