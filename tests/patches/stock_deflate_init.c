/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A live change of Debian's stock zlib (not rebuilt, no hot-patch
 * prologue: deflateInit2_ is patched with --relocate, a jmp over its first
 * instructions): every new deflate stream is made at level 0, stored
 * blocks, so a server's gzip answers carry their text uncompressed (still
 * valid gzip).  The original body, reached through HOTPATCH_ORIGINAL, is
 * the relocated copy of the displaced instructions.
 */
#include <hotpatch.h>

static int (*deflate_init2_original)(void *strm, int level, int method, int window_bits,
				     int mem_level, int strategy, const char *version,
				     int stream_size);

static int deflate_init2_stored(void *strm, int level, int method, int window_bits, int mem_level,
				int strategy, const char *version, int stream_size)
{
	(void)level;
	return deflate_init2_original(strm, 0, method, window_bits, mem_level, strategy, version,
				      stream_size);
}
HOTPATCH_REPLACE_IN("libz.so.1", deflateInit2_, deflate_init2_stored);
HOTPATCH_ORIGINAL_IN("libz.so.1", deflateInit2_, deflate_init2_original);
