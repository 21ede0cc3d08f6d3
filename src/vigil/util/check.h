// Error reporting for vigil: every failure is an exception that says what failed and where
// (file, tensor key, option name), thrown from one place so the CLI can print it as one line.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace vigil {

// The one exception type vigil throws for bad input, bad options and bad files.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown when a long job is interrupted (Ctrl-C) through a CancelToken.
class Cancelled : public Error {
 public:
  Cancelled() : Error("interrupted") {}
};

[[noreturn]] void ThrowError(const std::string& message);

}  // namespace vigil

// VIGIL_CHECK(cond, "format {}", args...): throws vigil::Error with the formatted message.
#define VIGIL_CHECK(cond, ...)                              \
  do {                                                      \
    if (!(cond)) ::vigil::ThrowError(fmt::format(__VA_ARGS__)); \
  } while (0)

// VIGIL_CHECK_OPTION(cond, "name", "must be ..."): an options struct's Check() helper.
#define VIGIL_CHECK_OPTION(cond, name, requirement)                                   \
  do {                                                                                \
    if (!(cond)) ::vigil::ThrowError(fmt::format("option {}: {}", name, requirement)); \
  } while (0)
