#include "vigil/clustering/dbscan.h"

#include <gtest/gtest.h>
