/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ipa_xleaf and its caller in one translation unit, the leaf first. */
#include "classify-xleaf.c"
#include "classify-xcaller.c"
