/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `hotpatch build`: its command line, its report in words or in JSON. */
#pragma once

/* The whole command (argv[0] is "build"); returns the exit code. */
int hp_build_cli(int argc, char **argv);
