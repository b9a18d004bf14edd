/* The Lua state a spec runs in: which parts of the standard library a spec may use, a memory cap
 * (an allocator that counts), and an instruction-count hook through which SIGINT, the search's
 * budget and an instruction limit reach Lua code that never returns. */
#include "lua_sandbox.h"

#include "core.h"
#include "spec.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Instructions between two looks at the stop conditions: about 0.1 ms of Lua, so a stop is seen
 * at once, and the clock is read rarely enough not to slow a spec down. */
#define HOOK_EVERY 10000

/* Per state: the allocator's user data, so that the hook finds it with lua_getallocf. */
typedef struct guard {
    aml_lua_limits lim;
    size_t used;
    int over_memory;  /* the last failed allocation was refused by the cap */
    int64_t count;    /* instructions run (in HOOK_EVERY steps) */
    int stopped;      /* AML_LUA_* */
    char msg[512];
} guard;

static guard *guard_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* Counts what the state holds and refuses to go past the cap (Lua then raises "not enough
 * memory", which a spec cannot turn into a crash). */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    guard *g = ud;
    if (!ptr)
        osize = 0; /* then osize is the kind of object, not a size */
    if (nsize == 0) {
        free(ptr);
        g->used -= osize;
        return NULL;
    }
    if (nsize > osize && nsize - osize > g->lim.max_memory - g->used) {
        g->over_memory = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        g->over_memory = 0;
        return NULL;
    }
    g->used = g->used - osize + nsize;
    return p;
}

static const char *stop_reason(int why)
{
    switch (why) {
    case AML_LUA_CANCELLED:
        return "interrupted (SIGINT)";
    case AML_LUA_DEADLINE:
        return "stopped: the search's time budget ran out while Lua code was running";
    case AML_LUA_INSTRUCTIONS:
        return "stopped: the Lua instruction limit was reached";
    default:
        return "stopped: the spec is being closed";
    }
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    guard *g = guard_of(L);
    g->count += HOOK_EVERY;
    int why = g->stopped == AML_LUA_CLOSING                                         ? AML_LUA_CLOSING
              : g->lim.cancel && __atomic_load_n(g->lim.cancel, __ATOMIC_RELAXED)  ? AML_LUA_CANCELLED
              : g->lim.deadline > 0 && aml_now() >= g->lim.deadline                 ? AML_LUA_DEADLINE
              : g->lim.max_instructions > 0 && g->count > g->lim.max_instructions ? AML_LUA_INSTRUCTIONS
                                                                                    : AML_LUA_RUNNING;
    if (why == AML_LUA_RUNNING)
        return;
    g->stopped = why;
    /* From now on every instruction raises, so that a pcall in the spec cannot swallow the stop
     * and go on looping. */
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    luaL_where(L, 0); /* inside a hook, level 0 is the function that was running */
    snprintf(g->msg, sizeof g->msg, "%s%s", lua_tostring(L, -1), stop_reason(why));
    lua_pop(L, 1);
    lua_pushstring(L, g->msg);
    lua_error(L);
}

static int panic(lua_State *L)
{
    fprintf(stderr, "automl: unprotected Lua error: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    return 0; /* Lua then aborts */
}

static void no_warnings(void *ud, const char *msg, int tocont)
{
    (void)ud, (void)msg, (void)tocont;
}

lua_State *aml_lua_new(const aml_lua_limits *lim)
{
    guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (lim)
        g->lim = *lim;
    if (g->lim.max_memory == 0)
        g->lim.max_memory = AML_SPEC_MAX_MEMORY;
    lua_State *L = lua_newstate(capped_alloc, g);
    if (!L) {
        free(g);
        return NULL;
    }
    lua_atpanic(L, panic);
    lua_setwarnf(L, no_warnings, NULL);
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    return L;
}

void aml_lua_set_interrupt(lua_State *L, const volatile int *cancel, double deadline)
{
    guard *g = guard_of(L);
    g->lim.cancel = cancel;
    g->lim.deadline = deadline;
    aml_lua_rearm(L);
}

void aml_lua_rearm(lua_State *L)
{
    guard *g = guard_of(L);
    g->stopped = AML_LUA_RUNNING;
    g->msg[0] = 0;
    g->count = 0;
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
}

int aml_lua_stopped(lua_State *L, const char **msg)
{
    guard *g = guard_of(L);
    if (msg)
        *msg = g->msg;
    return g->stopped;
}

int aml_lua_over_memory(lua_State *L, size_t *limit)
{
    guard *g = guard_of(L);
    if (limit)
        *limit = g->lim.max_memory;
    return g->over_memory;
}

void aml_lua_close(lua_State *L)
{
    if (!L)
        return;
    guard *g = guard_of(L);
    /* Lua code run by lua_close (a __close of a pending coroutine) stops at once; finalizers run
     * with hooks off, which is why the sandbox allows none. */
    g->stopped = AML_LUA_CLOSING;
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    lua_close(L);
    free(g);
}

/* ---- the library a spec sees ------------------------------------------------------------------ */

static int not_in_sandbox(lua_State *L, const char *name)
{
    return luaL_error(L, "%s is not available in the spec sandbox (run automl search --unsafe-spec to give the "
                         "spec the full Lua standard library)", name);
}

/* dofile, loadfile, require: upvalue 1 is the name. */
static int removed_function(lua_State *L) { return not_in_sandbox(L, lua_tostring(L, lua_upvalueindex(1))); }

/* __index of a library table (upvalue 1: its name; upvalue 2: the set of removed field names, or
 * nil when every field is removed): reading a removed field raises, naming it. */
static int removed_field(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    if (!lua_isnil(L, lua_upvalueindex(2))) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TNIL)
            return 0; /* never was there: plain nil, as in Lua */
        lua_pop(L, 1);
    }
    lua_pushfstring(L, "%s.%s", lib, lua_tostring(L, 2));
    return not_in_sandbox(L, lua_tostring(L, -1));
}

/* Sets t's metatable to { __index = removed_field(lib, removed) }; removed at the stack top (a
 * table or nil) is popped. t is an absolute index. */
static void guard_table(lua_State *L, int t, const char *lib)
{
    lua_createtable(L, 0, 1);
    lua_pushstring(L, lib);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, removed_field, 2);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, t);
    lua_pop(L, 1);
}

static void remove_global(lua_State *L, const char *name)
{
    lua_pushstring(L, name);
    lua_pushcclosure(L, removed_function, 1);
    lua_setglobal(L, name);
}

/* A library the sandbox lacks as a whole: an empty table whose every field raises. */
static void remove_library(lua_State *L, const char *lib)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    lua_pushnil(L);
    guard_table(L, t, lib);
    lua_setglobal(L, lib);
}

static int no_exit(lua_State *L)
{
    return luaL_error(L, "os.exit is not available in a spec: return automl.search{...}, or error(msg)");
}

/* os keeps only the clock and the calendar: no processes, files, environment or locale. */
static void restrict_os(lua_State *L)
{
    static const char *const keep[] = {"time", "clock", "date", "difftime", NULL};
    lua_getglobal(L, "os");
    int os = lua_gettop(L);
    lua_newtable(L);
    int removed = lua_gettop(L);
    for (;;) { /* not lua_next: entries are removed as we go */
        lua_pushnil(L);
        int found = 0;
        while (lua_next(L, os)) {
            lua_pop(L, 1);
            int k = 0;
            while (keep[k] && strcmp(keep[k], lua_tostring(L, -1)))
                k++;
            if (!keep[k]) {
                found = 1;
                break;
            }
        }
        if (!found)
            break;
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, removed);
        lua_pushnil(L);
        lua_rawset(L, os);
    }
    guard_table(L, os, "os");
    lua_pop(L, 1);
}

/* setmetatable without __gc: Lua runs finalizers with hooks off, so a finalizer that loops
 * could not be interrupted. Upvalue 1: Lua's own setmetatable. */
static int setmetatable_no_gc(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int has_gc = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_gc)
            return luaL_error(L, "setmetatable: a __gc metamethod is not available in the spec sandbox (a finalizer "
                                 "cannot be interrupted)");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* load(chunk, chunkname, mode, env) with mode "t" whatever is asked: Lua does not check binary
 * chunks, and a corrupt one crashes the process. Upvalue 1: Lua's own load. */
static int text_load(lua_State *L)
{
    size_t n = 0;
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
    if (s && n > 0 && s[0] == LUA_SIGNATURE[0]) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: binary chunks are refused in a spec (only Lua source text is loaded)");
        return 2;
    }
    int nargs = lua_gettop(L);
    if (nargs < 3) /* env stays absent when it was: load tells nil from none there */
        lua_settop(L, nargs = 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L);
}

/* --unsafe-spec's loadfile and dofile, text only too. */
static int text_loadfile(lua_State *L)
{
    const char *fname = luaL_optstring(L, 1, NULL);
    int env = !lua_isnone(L, 3) ? 3 : 0;
    if (luaL_loadfilex(L, fname, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

static int text_dofile(lua_State *L)
{
    const char *fname = luaL_optstring(L, 1, NULL);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, fname, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* require's searcher for Lua files, text only (Lua's own would load bytecode). */
static int text_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushstring(L, name);
    lua_getfield(L, -3, "path");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return 1; /* the list of places tried */
    const char *file = lua_tostring(L, -2);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
    lua_pushstring(L, file);
    return 2;
}

void aml_lua_open_libs(lua_State *L)
{
    guard *g = guard_of(L);
    if (g->lim.unsafe) {
        luaL_openlibs(L);
        lua_pushcfunction(L, text_loadfile);
        lua_setglobal(L, "loadfile");
        lua_pushcfunction(L, text_dofile);
        lua_setglobal(L, "dofile");
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "searchers");
        lua_pushcfunction(L, text_searcher);
        lua_rawseti(L, -2, 2);
        lua_pop(L, 2);
    } else {
        static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},         {LUA_COLIBNAME, luaopen_coroutine},
                                        {LUA_TABLIBNAME, luaopen_table},   {LUA_STRLIBNAME, luaopen_string},
                                        {LUA_MATHLIBNAME, luaopen_math},   {LUA_UTF8LIBNAME, luaopen_utf8},
                                        {LUA_OSLIBNAME, luaopen_os},       {NULL, NULL}};
        for (const luaL_Reg *lib = libs; lib->func; lib++) {
            luaL_requiref(L, lib->name, lib->func, 1);
            lua_pop(L, 1);
        }
        remove_global(L, "dofile");
        remove_global(L, "loadfile");
        remove_global(L, "require");
        remove_library(L, "io");
        remove_library(L, "package");
        remove_library(L, "debug");
        restrict_os(L);
        lua_getglobal(L, "setmetatable");
        lua_pushcclosure(L, setmetatable_no_gc, 1);
        lua_setglobal(L, "setmetatable");
    }
    lua_getglobal(L, "load");
    lua_pushcclosure(L, text_load, 1);
    lua_setglobal(L, "load");
    /* os.exit in a spec (or in on_trial, mid-search) would end the process without a word. */
    lua_getglobal(L, "os");
    lua_pushcfunction(L, no_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
}
