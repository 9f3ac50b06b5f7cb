/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A streaming JSON writer for --json output. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct hp_json {
	FILE *f;
	int depth;
	bool need_comma[32];
	bool pretty;
};

void hp_json_begin(struct hp_json *j, FILE *f);
void hp_json_end(struct hp_json *j);
void hp_json_obj(struct hp_json *j, const char *key); /* key NULL inside arrays */
void hp_json_obj_end(struct hp_json *j);
void hp_json_arr(struct hp_json *j, const char *key);
void hp_json_arr_end(struct hp_json *j);
void hp_json_str(struct hp_json *j, const char *key, const char *v); /* NULL -> null */
void hp_json_int(struct hp_json *j, const char *key, int64_t v);
void hp_json_bool(struct hp_json *j, const char *key, bool v);
void hp_json_null(struct hp_json *j, const char *key);
void hp_json_hex(struct hp_json *j, const char *key, uint64_t v); /* "0x..." */
/* One value another writer made (a worker's report of one process). */
void hp_json_raw(struct hp_json *j, const char *text, size_t len);
