/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status and list: read-only looks at a target; no thread is stopped. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hp_options;
struct hp_report;

int hp_status(pid_t pid, const struct hp_options *o, struct hp_report *rep);
