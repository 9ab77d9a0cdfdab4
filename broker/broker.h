/*
 * The broker's shared state, created in main.c and passed to every part.
 * Everything here is used on the loop thread only.
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "store.h"
#include "worker.h"

#define BROKER_MAGIC 0x62726b31u /* "brk1" */

struct api;
struct job;
struct tracker;

struct broker {
	uint32_t magic;
	uv_loop_t *loop;
	struct config *cfg;
	struct store *store;
	struct worker keyworker;
	struct worker networker;
	struct api *api;
	struct job *jobs; /* unfinished jobs, newest first */
	struct tracker *tracker;
	int stopping;
};
