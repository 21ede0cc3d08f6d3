// vigil_node: live change detection on a robot's camera (see vigil/ros/inspection_node.h).
//   rosrun-style: vigil_node __ns:=robot1 _reference:=/data/ref_run _extractor:=superpoint
// Exits with code 1 and one line on stderr when the parameters or the reference are bad.
#include <cstdio>

#include <ros/ros.h>

#include "vigil/ros/inspection_node.h"

int main(int argc, char** argv) {
  ros::init(argc, argv, "vigil_node");
  try {
    ros::NodeHandle nh;
    ros::NodeHandle pnh("~");
    const vigil::ros::InspectionNodeOptions options = vigil::ros::ReadInspectionNodeOptions(pnh);
    vigil::ros::InspectionNode node(nh, pnh, options);
    ROS_INFO("vigil_node: reference %s, images %s, poses %s (%s); ready", options.reference.c_str(),
             nh.resolveName(options.image_topic).c_str(),
             nh.resolveName(options.pose_topic).c_str(), options.pose_type.c_str());
    // Two spinner threads: the worker never blocks the callbacks, so frames arriving while it
    // is busy reach the mailbox (and are dropped there) instead of piling up in ROS queues.
    ros::AsyncSpinner spinner(2);
    spinner.start();
    ros::waitForShutdown();
    ROS_INFO("vigil_node: %llu frames inspected, %llu dropped",
             static_cast<unsigned long long>(node.processed()),
             static_cast<unsigned long long>(node.dropped()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vigil_node: %s\n", e.what());
    return 1;
  }
  return 0;
}
