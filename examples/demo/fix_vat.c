/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fix for the demo shop: add the 20% VAT.  Build it with
 *
 *     cc -shared -fPIC $(pkg-config --cflags hotpatch) fix_vat.c -o fix_vat.so
 *
 * and apply it with: hotpatch --pid PID fix_vat.so
 */
#include <hotpatch.h>

static double (*original_total_price)(int items, double unit);

static double total_price_with_vat(int items, double unit)
{
	return original_total_price(items, unit) * 1.20;
}
HOTPATCH_REPLACE(total_price, total_price_with_vat);
HOTPATCH_ORIGINAL(total_price, original_total_price);
