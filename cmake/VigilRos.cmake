# Finds ROS 1 (Noetic-era packages as Debian 12 ships them, no /opt/ros) for VIGIL_ENABLE_ROS.
# Debian's catkin-style rosbagConfig.cmake pulls in the ROS 2 pluginlib (ament, needs Python
# modules that are not installed) and rosbag_storage.pc requires a pluginlib.pc that does not
# exist, so neither find_package(rosbag) nor pkg-config works there: we find headers and
# libraries by name instead. Packages: libroscpp-dev librosbag-dev libmessage-filters-dev
# libsensor-msgs-dev libnav-msgs-dev libgeometry-msgs-dev libvisualization-msgs-dev
# libstd-msgs-dev libtf2-msgs-dev; ros-core for roscore in the tests.
# Defines the imported target vigil::ros_deps and sets VIGIL_ROS_FOUND.
set(VIGIL_ROS_FOUND OFF)
set(_vigil_ros_missing "")
find_package(Boost QUIET COMPONENTS system thread filesystem)
find_path(VIGIL_ROS_INCLUDE_DIR ros/ros.h)
find_path(VIGIL_ROSBAG_INCLUDE_DIR rosbag/bag.h)
# rosbag/bag.h includes pluginlib/class_loader.hpp, which Debian's (ROS 2 era) pluginlib installs
# one folder deeper, as it does the headers that one includes in turn.
set(_vigil_ros_extra_includes "")
foreach(header pluginlib/class_loader.hpp class_loader/multi_library_class_loader.hpp
        ament_index_cpp/get_resource.hpp rcpputils/shared_library.hpp rcutils/logging_macros.h)
  string(REGEX REPLACE "/.*" "" package ${header})
  find_path(VIGIL_ROS_INCLUDE_${package} ${header} PATH_SUFFIXES ${package})
  if(VIGIL_ROS_INCLUDE_${package})
    list(APPEND _vigil_ros_extra_includes ${VIGIL_ROS_INCLUDE_${package}})
  else()
    list(APPEND _vigil_ros_missing ${header})
  endif()
endforeach()
find_path(VIGIL_ROS_MSGS_INCLUDE_DIR NAMES sensor_msgs/Image.h nav_msgs/Odometry.h)
find_path(VIGIL_ROS_FILTERS_INCLUDE_DIR message_filters/sync_policies/approximate_time.h)
foreach(header sensor_msgs/Image.h sensor_msgs/CompressedImage.h nav_msgs/Odometry.h
        geometry_msgs/PoseStamped.h tf2_msgs/TFMessage.h visualization_msgs/MarkerArray.h
        std_msgs/String.h)
  if(NOT VIGIL_ROS_MSGS_INCLUDE_DIR OR NOT EXISTS "${VIGIL_ROS_MSGS_INCLUDE_DIR}/${header}")
    list(APPEND _vigil_ros_missing ${header})
  endif()
endforeach()
set(_vigil_ros_libs "")
foreach(lib roscpp rosbag rosbag_storage roscpp_serialization rostime rosconsole cpp_common
        xmlrpcpp message_filters console_bridge)
  find_library(VIGIL_ROS_LIB_${lib} ${lib})
  if(VIGIL_ROS_LIB_${lib})
    list(APPEND _vigil_ros_libs ${VIGIL_ROS_LIB_${lib}})
  else()
    list(APPEND _vigil_ros_missing lib${lib})
  endif()
endforeach()
find_program(VIGIL_ROSCORE roscore)
if(NOT Boost_FOUND)
  list(APPEND _vigil_ros_missing "boost (system thread filesystem)")
endif()
foreach(dir VIGIL_ROS_INCLUDE_DIR VIGIL_ROSBAG_INCLUDE_DIR VIGIL_ROS_FILTERS_INCLUDE_DIR)
  if(NOT ${dir})
    list(APPEND _vigil_ros_missing ${dir})
  endif()
endforeach()

if(_vigil_ros_missing)
  set(VIGIL_ROS_MISSING "${_vigil_ros_missing}")
else()
  set(VIGIL_ROS_FOUND ON)
  if(NOT TARGET vigil::ros_deps)
    add_library(vigil::ros_deps INTERFACE IMPORTED)
    # xmlrpcpp's headers live in their own folder (ros/ros.h includes XmlRpcValue.h).
    set_target_properties(vigil::ros_deps PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES
        "${VIGIL_ROS_INCLUDE_DIR};${VIGIL_ROS_INCLUDE_DIR}/xmlrpcpp;${_vigil_ros_extra_includes}"
      INTERFACE_LINK_LIBRARIES "${_vigil_ros_libs};Boost::system;Boost::thread;Boost::filesystem")
  endif()
endif()
