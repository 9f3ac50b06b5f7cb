/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "clangapi.h"

#include <dlfcn.h>
#include <stdbool.h>

#include "util.h"

#ifndef HP_LIBCLANG_SONAME
#error "meson defines HP_LIBCLANG_SONAME, the libclang hotpatch was built against"
#endif

static struct hp_clang_api api;
static void *lib;

int hp_clang_get(const struct hp_clang_api **ret)
{
	const char *missing = NULL;

	if (lib) {
		*ret = &api;
		return 0;
	}
	lib = dlopen(HP_LIBCLANG_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return hp_fail(-HP_EUNSUPPORTED,
			       "cannot load libclang (%s), which hotpatch build parses C with: %s",
			       HP_LIBCLANG_SONAME, dlerror());
#define HP_X_CLANG_LOAD(n)                                  \
	api.n = (__typeof__(api.n))dlsym(lib, "clang_" #n); \
	if (!api.n && !missing)                             \
		missing = "clang_" #n;
	HP_CLANG_FUNCS(HP_X_CLANG_LOAD)
#undef HP_X_CLANG_LOAD
	if (missing) {
		dlclose(lib);
		lib = NULL;
		api = (struct hp_clang_api){0};
		return hp_fail(-HP_EUNSUPPORTED, "%s is not a libclang hotpatch can use (no %s)",
			       HP_LIBCLANG_SONAME, missing);
	}
	*ret = &api;
	return 0;
}

void hp_clang_close(void)
{
	if (!lib)
		return;
	dlclose(lib);
	lib = NULL;
	api = (struct hp_clang_api){0};
}
