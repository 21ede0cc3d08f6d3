#include "vigil/ros/ros_test_util.h"

#include <arpa/inet.h>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "vigil/util/file_util.h"

#ifndef VIGIL_ROSCORE_PATH
#define VIGIL_ROSCORE_PATH "roscore"
#endif

namespace vigil::ros::testing {

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool PortOpen(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& env,
                           const std::filesystem::path& log)
    : log_(log) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (!env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork() failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    // SIGINT, not SIGKILL, when the test process dies: roscore and roslaunch then shut down
    // the master, rosout and launched nodes they started in sessions of their own.
    ::prctl(PR_SET_PDEATHSIG, SIGINT);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from the parent, so killpg works even before the child ran
}

namespace {

// Every descendant of `root` (from /proc/<pid>/stat's parent field). roslaunch starts the
// master, rosout and launched nodes in sessions of their own (setsid), so killing our child's
// process group does not reach them; they are found by parentage instead.
std::vector<pid_t> Descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 1));
    char state = 0;
    pid_t parent = 0;
    rest >> state >> parent;
    children[parent].push_back(static_cast<pid_t>(std::stol(name)));
  }
  std::vector<pid_t> out, todo = {root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children[p]) {
      out.push_back(c);
      todo.push_back(c);
    }
  }
  return out;
}

}  // namespace

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Running() {
  if (status_ != -1) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ::killpg(pid_, SIGKILL);  // its children (roscore's rosmaster, rosout)
    return false;
  }
  return true;
}

int ChildProcess::Stop() {
  if (!Running()) return status_;
  const std::vector<pid_t> descendants = Descendants(pid_);
  ::killpg(pid_, SIGINT);
  for (int i = 0; i < 150 && Running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (Running()) {
    ::killpg(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = 128 + SIGKILL;
  }
  ::killpg(pid_, SIGKILL);
  // What of its process tree outlived it (roslaunch's setsid'd children) is now orphaned:
  // reparented to init (or to us). Only those are killed, so that a pid reused meanwhile by an
  // unrelated process with another parent is left alone.
  for (pid_t d : descendants) {
    std::ifstream stat("/proc/" + std::to_string(d) + "/stat");
    std::string line;
    if (std::getline(stat, line) && line.rfind(')') != std::string::npos) {
      std::istringstream rest(line.substr(line.rfind(')') + 1));
      char state = 0;
      pid_t parent = 0;
      rest >> state >> parent;
      if (parent == 1 || parent == ::getpid()) ::kill(d, SIGKILL);
    }
  }
  return status_;
}

std::string ChildProcess::Log() const {
  try {
    return ReadFileToString(log_);
  } catch (const std::exception&) {
    return "";
  }
}

RosMaster::RosMaster(const std::filesystem::path& home, const std::string& host,
                     std::vector<std::string> prefix)
    : host_(host), home_(home) {
  std::filesystem::create_directories(home);
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    std::vector<std::string> argv = prefix;
    for (const char* a : {VIGIL_ROSCORE_PATH, "-p"}) argv.push_back(a);
    argv.push_back(std::to_string(port_));
    process_ = std::make_unique<ChildProcess>(argv, Environment(host), home / "roscore.log");
    // Loopback: the master's XML-RPC port opens. Behind a prefix (another network namespace)
    // the port cannot be probed from here: roscore's own "started core service" line says it.
    const bool up = WaitFor(
        [&] {
          if (!process_->Running()) return true;
          return prefix.empty() ? PortOpen(host_, port_)
                                : process_->Log().find("started core service") != std::string::npos;
        },
        std::chrono::seconds(30));
    if (up && process_->Running()) return;
    process_->Stop();
  }
  throw std::runtime_error("roscore did not start: " + process_->Log());
}

std::string RosMaster::uri() const { return "http://" + host_ + ":" + std::to_string(port_); }

std::map<std::string, std::string> RosMaster::Environment(const std::string& ros_ip) const {
  return {{"ROS_MASTER_URI", uri()},
          {"ROS_IP", ros_ip.empty() ? host_ : ros_ip},
          {"ROS_HOSTNAME", ros_ip.empty() ? host_ : ros_ip},
          {"ROS_HOME", home_.string()},
          {"ROS_LOG_DIR", (home_ / "log").string()}};
}

}  // namespace vigil::ros::testing
