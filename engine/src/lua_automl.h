/* The `automl` Lua module a spec sees (lua_automl.c), and the few helpers lua_host.c needs to read
 * what it built: which tables are tagged as what, and the spec line each was written on. */
#ifndef AML_LUA_AUTOML_H
#define AML_LUA_AUTOML_H

#include <lua.h>
#include <stddef.h>

#define AML_LUA_DATASET "automl.Dataset"
#define AML_LUA_SEARCH "automl.Search"
#define AML_LUA_RANGE "automl.Range" /* fields: kind ("uniform" | "loguniform" | "int" | "choice"),
                                        lo, hi, log (boolean), values (choice: a list) */

/* Opens the module and leaves its table on the stack (as luaL_requiref expects). */
int luaopen_automl(lua_State *L);

/* 1 when the value at idx is a table tagged with metatable mt (one of the names above). */
int aml_lua_is(lua_State *L, int idx, const char *mt);
/* The spec line on which the tagged table at idx was built; 0 when unknown. */
int aml_lua_line_of(lua_State *L, int idx);

/* Message handler for lua_pcall: keeps Lua's "file:line:" prefix, and adds the position of the
 * innermost Lua function when the error carries none (error(msg, 0), a non-string error). */
int aml_lua_msgh(lua_State *L);

/* In the spec text s[0..n), the offset at or after from of `name =` or `["name"] =` (want_key),
 * or of the string literal "name" (!want_key); -1 when absent. Comments and strings are skipped. */
long aml_lua_scan(const char *s, size_t n, long from, const char *name, int want_key);

#endif
