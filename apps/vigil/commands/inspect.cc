// In progress: this subcommand lands with its issue.
#include <cstdio>

#include "commands.h"

namespace vigil::cli {
int RunInspect(int, char**) {
  std::fprintf(stderr, "vigil: this command is not available in this build yet\n");
  return 2;
}
}  // namespace vigil::cli
