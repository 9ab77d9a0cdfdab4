/* Deleting keys nobody uses (keysweep.c says which and why). */
#pragma once

#include "broker.h"

/* Asks the keyworker for its keys and deletes those nobody uses. */
void keysweep_run(struct broker *b);

/* Notes a key imported through the broker: it is never swept. */
void keysweep_keep(struct broker *b, const char *id);
