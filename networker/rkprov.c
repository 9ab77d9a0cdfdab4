/* Being written: see rkprov.h. */
#include "rkprov.h"
