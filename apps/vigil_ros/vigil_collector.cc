// vigil_collector: gathers the ~anomalies of several robots' vigil_node into one run report
// (see vigil/ros/inspection_node.h).
//   vigil_collector _robots:=robot1,robot2 _out_dir:=/data/report
#include <cstdio>

#include <ros/ros.h>

#include "vigil/ros/inspection_node.h"

int main(int argc, char** argv) {
  ros::init(argc, argv, "vigil_collector");
  try {
    ros::NodeHandle nh;
    ros::NodeHandle pnh("~");
    const vigil::ros::CollectorOptions options = vigil::ros::ReadCollectorOptions(pnh);
    vigil::ros::Collector collector(nh, options);
    ROS_INFO("vigil_collector: %zu robots, report in %s", options.robots.size(),
             options.out_dir.c_str());
    ros::spin();
    collector.WriteReport();
    ROS_INFO("vigil_collector: %zu results", collector.num_results());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vigil_collector: %s\n", e.what());
    return 1;
  }
  return 0;
}
