#include "tests.h"
TEST_MAIN()
