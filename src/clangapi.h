/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libclang, loaded on first use.  Linked in, LLVM's relocations would cost
 * every hotpatch command before main(), and only `hotpatch build` parses C.
 * Each function is reached through the table, by its name without the
 * clang_ prefix: hp_clang()->parseTranslationUnit2(...).
 */
#pragma once

#include <clang-c/Index.h>

#define HP_CLANG_FUNCS(X)               \
	X(createIndex)                  \
	X(disposeIndex)                 \
	X(parseTranslationUnit2)        \
	X(disposeTranslationUnit)       \
	X(getNumDiagnostics)            \
	X(getDiagnostic)                \
	X(disposeDiagnostic)            \
	X(getDiagnosticSeverity)        \
	X(getDiagnosticLocation)        \
	X(getDiagnosticSpelling)        \
	X(getCString)                   \
	X(disposeString)                \
	X(getTranslationUnitCursor)     \
	X(visitChildren)                \
	X(getCursorKind)                \
	X(getCursorLocation)            \
	X(getCursorExtent)              \
	X(getRangeStart)                \
	X(getRangeEnd)                  \
	X(getRange)                     \
	X(getExpansionLocation)         \
	X(getSpellingLocation)          \
	X(getLocationForOffset)         \
	X(equalLocations)               \
	X(getFile)                      \
	X(getFileContents)              \
	X(File_isEqual)                 \
	X(getFileName)                  \
	X(getCursorSpelling)            \
	X(isCursorDefinition)           \
	X(Cursor_getStorageClass)       \
	X(getCursorLinkage)             \
	X(Cursor_isFunctionInlined)     \
	X(getCursorType)                \
	X(getTypeSpelling)              \
	X(isConstQualifiedType)         \
	X(getArrayElementType)          \
	X(getArraySize)                 \
	X(Cursor_getVarDeclInitializer) \
	X(Cursor_isNull)                \
	X(tokenize)                     \
	X(disposeTokens)                \
	X(getTokenSpelling)             \
	X(getTokenExtent)               \
	X(getCursorPrettyPrinted)       \
	X(getTokenKind)                 \
	X(getCursor)                    \
	X(getCursorReferenced)          \
	X(Cursor_isMacroFunctionLike)

struct hp_clang_api {
#define HP_X_CLANG_FIELD(n) __typeof__(&clang_##n) n;
	HP_CLANG_FUNCS(HP_X_CLANG_FIELD)
#undef HP_X_CLANG_FIELD
};

/* 0, or -HP_EUNSUPPORTED when libclang cannot be loaded (the reason is in
 * the error message); *ret stays valid until hp_clang_close(). */
int hp_clang_get(const struct hp_clang_api **ret);
/* Unloads libclang (a later hp_clang_get() loads it again). */
void hp_clang_close(void);
