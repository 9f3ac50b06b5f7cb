/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Can the target open /proc/self/fd/N, through which it loads a patch? */
#pragma once

struct hp_target;

/*
 * 0 if the target's root has a procfs at /proc that shows the target
 * itself (so its /proc/self is there); otherwise -HP_EUNSUPPORTED with
 * why and what to do, or -HP_ETIMEOUT when its filesystems do not answer
 * by t->deadline.  Reads only, through the file helper: the target's owner
 * controls what lies under its root.
 */
int hp_procfs_check(const struct hp_target *t);
