/* The Lua state a spec runs in (lua_sandbox.c): the sandboxed standard library, or the full one
 * with --unsafe-spec; binary chunks refused; a memory cap; and an instruction-count hook that
 * stops Lua code when the search is interrupted, its budget runs out, or an instruction limit is
 * reached, so that no spec, however it loops, keeps the search from stopping. */
#ifndef AML_LUA_SANDBOX_H
#define AML_LUA_SANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* What may stop Lua code, and how much memory it may hold. */
typedef struct aml_lua_limits {
    int unsafe;                 /* 1: the full standard library (automl search --unsafe-spec) */
    size_t max_memory;          /* bytes the state may hold; 0: AML_SPEC_MAX_MEMORY */
    int64_t max_instructions;   /* Lua instructions in all (about), 0: no limit */
    const volatile int *cancel; /* Lua code stops once *cancel is non-zero (SIGINT); may be NULL */
    double deadline;            /* Lua code stops once aml_now() reaches it; 0: never */
} aml_lua_limits;

/* Why Lua code was last stopped by the hook (aml_lua_stopped). */
enum { AML_LUA_RUNNING = 0, AML_LUA_CANCELLED, AML_LUA_DEADLINE, AML_LUA_INSTRUCTIONS, AML_LUA_CLOSING };

/* A new state with the limits lim (NULL: the defaults, sandboxed) and the hook set; no library is
 * open yet. NULL when out of memory. Close it with aml_lua_close. */
lua_State *aml_lua_new(const aml_lua_limits *lim);
/* Opens the standard library the limits allow: in the sandbox base (without dofile, loadfile,
 * require), coroutine, string, table, math, utf8 and os.time/clock/date/difftime; a removed
 * function raises "NAME is not available in the spec sandbox ...", and setmetatable refuses
 * __gc (finalizers run with hooks off: nothing could stop one that loops). load() takes text only,
 * and os.exit always raises. Raises on failure (call it in protected mode). */
void aml_lua_open_libs(lua_State *L);
/* Changes what stops Lua code from now on (the search sets its own flag and budget end), and
 * forgets an earlier stop. */
void aml_lua_set_interrupt(lua_State *L, const volatile int *cancel, double deadline);
/* Forgets an earlier stop and restarts the instruction count (before each callback). */
void aml_lua_rearm(lua_State *L);
/* AML_LUA_* : why the hook last stopped Lua code, and its message "FILE:LINE: why" (static
 * storage of the state; "" when it has not). */
int aml_lua_stopped(lua_State *L, const char **msg);
/* 1 when the last allocation failure was the memory cap, not the system; *limit gets the cap. */
int aml_lua_over_memory(lua_State *L, size_t *limit);
/* Closes L: finalizers that run now are stopped at once. Accepts NULL. */
void aml_lua_close(lua_State *L);

#endif
