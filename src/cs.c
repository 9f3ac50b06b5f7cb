/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cs.h"

#include <dlfcn.h>
#include <stdbool.h>

#include "util.h"

#ifndef HP_CAPSTONE_SONAME
#error "meson defines HP_CAPSTONE_SONAME, the Capstone library hotpatch was built against"
#endif

/* One handle for the process, owned here: opened on first use, closed by
 * hp_cs_close(). */
static struct hp_cs cs;
static void *lib;
static cs_err (*cs_close_fn)(csh *handle);
static bool loaded;

int hp_cs_get(const struct hp_cs **ret)
{
	cs_err (*open)(cs_arch arch, cs_mode mode, csh * handle);
	cs_err (*option)(csh handle, cs_opt_type type, size_t value);

	if (loaded) {
		*ret = &cs;
		return 0;
	}
	lib = dlopen(HP_CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return hp_fail(-HP_EUNSUPPORTED, "cannot load Capstone (%s): %s",
			       HP_CAPSTONE_SONAME, dlerror());
	open = (cs_err(*)(cs_arch, cs_mode, csh *))dlsym(lib, "cs_open");
	option = (cs_err(*)(csh, cs_opt_type, size_t))dlsym(lib, "cs_option");
	cs.disasm = (size_t(*)(csh, const uint8_t *, size_t, uint64_t, size_t,
			       cs_insn **))dlsym(lib, "cs_disasm");
	cs.free = (void (*)(cs_insn *, size_t))dlsym(lib, "cs_free");
	cs_close_fn = (cs_err(*)(csh *))dlsym(lib, "cs_close");
	cs.disasm_iter = (bool (*)(csh, const uint8_t **, size_t *, uint64_t *,
				   cs_insn *))dlsym(lib, "cs_disasm_iter");
	cs.malloc_insn = (cs_insn * (*)(csh)) dlsym(lib, "cs_malloc");
	if (!open || !option || !cs.disasm || !cs.free || !cs_close_fn || !cs.disasm_iter ||
	    !cs.malloc_insn || open(CS_ARCH_X86, CS_MODE_64, &cs.handle) != CS_ERR_OK ||
	    open(CS_ARCH_X86, CS_MODE_64, &cs.fast) != CS_ERR_OK) {
		dlclose(lib);
		lib = NULL;
		return hp_fail(-HP_EUNSUPPORTED, "%s is not a Capstone hotpatch can use",
			       HP_CAPSTONE_SONAME);
	}
	option(cs.handle, CS_OPT_DETAIL, CS_OPT_ON);
	option(cs.fast, CS_OPT_SKIPDATA, CS_OPT_ON);
	loaded = true;
	*ret = &cs;
	return 0;
}

void hp_cs_close(void)
{
	if (!loaded)
		return;
	cs_close_fn(&cs.handle);
	cs_close_fn(&cs.fast);
	dlclose(lib);
	lib = NULL;
	loaded = false;
	cs = (struct hp_cs){0};
}
