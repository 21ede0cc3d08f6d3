// Test helpers for the ROS tests: child processes that are always cleaned up (roscore, nodes),
// free loopback ports, waiting with a deadline.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vigil::ros::testing {

// A TCP port that was free on 127.0.0.1 a moment ago.
int FreePort();

// True when something accepts TCP connections on host:port.
bool PortOpen(const std::string& host, int port);

// Polls `done` every 20 ms until it returns true (-> true) or `timeout` passes (-> false).
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// A child process in its own process group, killed (SIGINT, then SIGKILL after 3 s, the whole
// group, then orphaned descendants) by Stop() or the destructor, and sent SIGINT by the kernel
// when the test process dies (PR_SET_PDEATHSIG; roscore then stops what it started), so a
// failing or crashing test leaves no roscore behind.
class ChildProcess {
 public:
  // argv[0] is the program (searched in PATH). stdout and stderr go to `log`.
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  bool Running();           // not exited yet
  int Stop();               // stops it; returns the exit status (128 + signal when killed)
  std::string Log() const;  // what it printed so far
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::filesystem::path log_;
};

// roscore on a free loopback port (or `host`:`port`), with its logs under `home`.
// Waits until the master accepts connections. Environment() is what a node needs to reach it.
class RosMaster {
 public:
  explicit RosMaster(const std::filesystem::path& home, const std::string& host = "127.0.0.1",
                     std::vector<std::string> prefix = {});
  std::string uri() const;
  std::map<std::string, std::string> Environment(const std::string& ros_ip = "") const;
  ChildProcess& process() { return *process_; }

 private:
  std::string host_;
  int port_ = 0;
  std::filesystem::path home_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace vigil::ros::testing
