#include "vigil/matching/types.h"

#include "vigil/util/check.h"

namespace vigil {

void FillReverseMatches(int n1, Matches* matches) {
  matches->matches1.assign(n1, -1);
  matches->confidence1.assign(n1, 0.0f);
  for (size_t i = 0; i < matches->matches0.size(); ++i) {
    const int j = matches->matches0[i];
    if (j < 0) continue;
    VIGIL_CHECK(j < n1, "match {} -> {} is out of range (image 1 has {} keypoints)", i, j, n1);
    matches->matches1[j] = static_cast<int>(i);
    matches->confidence1[j] = matches->confidence0[i];
  }
}

}  // namespace vigil
