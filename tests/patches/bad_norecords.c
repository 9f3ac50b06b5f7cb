/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A shared object without hotpatch records. */
int not_a_patch(int x)
{
	return x;
}
