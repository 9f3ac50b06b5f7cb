#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the public header as a C string: `hotpatch build` gives it to the
patches it compiles, the same version as the hotpatch that applies them."""
import sys

with open(sys.argv[1], "rb") as f:
    data = f.read()
with open(sys.argv[2], "w") as out:
    out.write("/* generated from include/hotpatch.h by src/embed_header.py */\n")
    out.write("const char hp_public_header[] = {\n")
    for i in range(0, len(data), 16):
        out.write("\t" + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    out.write("\t0};\n")
