#include "vigil/util/check.h"

namespace vigil {

void ThrowError(const std::string& message) { throw Error(message); }

}  // namespace vigil
