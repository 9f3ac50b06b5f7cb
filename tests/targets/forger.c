/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A hostile target: it builds hotpatch's control mapping itself (a memfd
 * named "hotpatch-ctl" with a valid header and a registry slot made by
 * hotpatch's own encoder) describing two applied patches whose path,
 * symbol, object and replacement names hold newlines, escape sequences,
 * DEL, C1 and bidi controls and invalid UTF-8.  Their "functions" live in
 * an anonymous page of its own, so a rollback writes only there.
 * Commands on stdin, answers on stdout, one line each:
 *   strings -> the hostile strings, in hex: path, symbol 1, symbol 2, object,
 *              replacement
 *   forge   -> "forged" (writes the mapping and the function bytes anew)
 *   check   -> "restored" once a rollback put the recorded originals back,
 *              "untouched" while the forged patches' bytes are there
 *   quit
 * It prints "ready PID" once the first forgery is in place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "registry.h"
#include "remote.h"

#define NFUNCS 2

static const char *const hostile_path =
	"/tmp/fix.so\n\033[2J\033[1;32mhotpatch[1]: rollback rolled-back: pid=1 exe=FORGED "
	"\x7f\xff\xc0\xaf\xe2\x80\xae";
static const char *const hostile_symbol[NFUNCS] = {
	"sym\nhotpatch[1]: rollback rolled-back: pid=1 exe=FORGED\033[2J",
	"sym2\r\033[1A\xc2\x9b"
	"31m\xed\xa0\x80\"=\\",
};
static const char *const hostile_object =
	"/lib/obj\033]0;title\a\xe2\x81\xa6\xc2\x85\xf4\x90\x80\x80";
static const char *const hostile_replacement = "repl\033[1;31m\xe2\x80\x8f\xe2\x80\xa8\xe2\x82";

static const uint8_t old_pad[HP_PAD_LEN] = {0x90, 0x90, 0x90, 0x90, 0x90};
static const uint8_t old_win[HP_WIN_LEN] = {0x66, 0x90};
static const uint8_t new_pad[HP_PAD_LEN] = {0xe9, 0x11, 0x22, 0x33, 0x44};
static const uint8_t new_win[HP_WIN_LEN] = {0xeb, 0xf9};

static uint8_t *ctl, *code;

static void hex(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		printf("%02x", *p);
}

static int forge(void)
{
	struct hp_reg_func f[NFUNCS] = {0};
	struct hp_reg_patch p[NFUNCS] = {0};
	struct hp_registry reg = {.p = p, .n = NFUNCS};
	struct hp_ctl_hdr hdr = {0};
	uint8_t *img;
	size_t len;

	for (int i = 0; i < NFUNCS; i++) {
		uint8_t *fn = code + 64 * i;
		uint64_t entry = (uint64_t)(uintptr_t)(fn + HP_PAD_LEN);

		memcpy(fn, new_pad, HP_PAD_LEN);
		memcpy(fn + HP_PAD_LEN, new_win, HP_WIN_LEN);
		f[i] = (struct hp_reg_func){.symbol = (char *)hostile_symbol[i],
					    .object = (char *)hostile_object,
					    .replacement_name = (char *)hostile_replacement,
					    .entry = entry,
					    .pad = entry - HP_PAD_LEN,
					    .window = entry,
					    .body = entry + HP_WIN_LEN,
					    .window_len = HP_WIN_LEN,
					    .replacement = 0x1000,
					    .slot = 0};
		memcpy(f[i].old_pad, old_pad, HP_PAD_LEN);
		memcpy(f[i].old_win, old_win, HP_WIN_LEN);
		memcpy(f[i].new_pad, new_pad, HP_PAD_LEN);
		memcpy(f[i].new_win, new_win, HP_WIN_LEN);
		p[i] = (struct hp_reg_patch){.id = (uint32_t)i + 1,
					     .state = HP_REG_APPLIED,
					     .applied_ns = 1700000000000000000ull,
					     .path = (char *)hostile_path,
					     .funcs = &f[i],
					     .nfuncs = 1};
		memset(p[i].sha256, 0xab, sizeof(p[i].sha256));
	}
	if (hp_registry_slot_image(&reg, 1, &img, &len) < 0)
		return -1;
	memcpy(ctl + hp_registry_slot_offset(0), img, len);
	free(img);
	memcpy(hdr.magic, "HOTPATCH", 8);
	hdr.version = 1;
	hdr.size = HP_CTL_SIZE;
	hdr.self = (uint64_t)(uintptr_t)ctl;
	hdr.owner_pid = (uint64_t)getpid();
	hdr.reg_active = 0;
	hdr.reg_gen = 1;
	hdr.next_patch_id = NFUNCS + 1;
	memcpy(ctl + HP_CTL_HDR_OFF, &hdr, sizeof(hdr));
	return 0;
}

static bool restored(void)
{
	for (int i = 0; i < NFUNCS; i++)
		if (memcmp(code + 64 * i, old_pad, HP_PAD_LEN) ||
		    memcmp(code + 64 * i + HP_PAD_LEN, old_win, HP_WIN_LEN))
			return false;
	return true;
}

int main(void)
{
	char line[256];
	int fd = memfd_create(HP_CTL_NAME, MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, HP_CTL_SIZE) < 0) {
		perror("forger: memfd");
		return 1;
	}
	ctl = mmap(NULL, HP_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED || code == MAP_FAILED || forge() < 0) {
		perror("forger: mmap");
		return 1;
	}
	close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "strings\n")) {
			hex(hostile_path);
			putchar(' ');
			for (int i = 0; i < NFUNCS; i++) {
				hex(hostile_symbol[i]);
				putchar(' ');
			}
			hex(hostile_object);
			putchar(' ');
			hex(hostile_replacement);
			putchar('\n');
		} else if (!strcmp(line, "forge\n")) {
			puts(forge() < 0 ? "failed" : "forged");
		} else if (!strcmp(line, "check\n")) {
			puts(restored() ? "restored" : "untouched");
		} else if (!strcmp(line, "quit\n")) {
			break;
		} else {
			puts("unknown command");
		}
	}
	return 0;
}
