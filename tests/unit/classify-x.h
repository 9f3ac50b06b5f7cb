/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The leaf of classify-xleaf.c, as its callers see it. */
#pragma once

#define HP_X_LEAF __attribute__((visibility("hidden"), noinline, noclone))

HP_X_LEAF int ipa_xleaf(int x);
