/* The `automl` Lua module a spec sees (automl.dataset, automl.search, the search-space
 * constructors), the spec positions errors point at (Lua tables carry none: a weak side table
 * keeps the line of each tagged table, a scan of the source finds keys), and the on_trial call. */
#include "lua_automl.h"
#include "lua_sandbox.h"
#include "spec.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <string.h>

/* Registry key of the weak-keyed table: tagged table -> spec line. */
static const char LINES_KEY[] = "automl.lines";

/* The line of the Lua code that called the running C function (level 1). */
static int caller_line(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0)
        return ar.currentline;
    return 0;
}

/* Sets metatable mt on the table at idx and records the caller's line for it. */
static void tag(lua_State *L, int idx, const char *mt)
{
    idx = lua_absindex(L, idx);
    luaL_getmetatable(L, mt);
    lua_setmetatable(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, LINES_KEY);
    lua_pushvalue(L, idx);
    lua_pushinteger(L, caller_line(L));
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

int aml_lua_is(lua_State *L, int idx, const char *mt)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, mt);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

int aml_lua_line_of(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, LINES_KEY);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    int line = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return line;
}

/* automl.dataset("file.h5") or automl.dataset{ path = "file.h5", target = "col", drop = {...} }.
 * Only the shape is checked here; lua_host.c validates fields and resolves the path. */
static int l_dataset(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "path");
    } else if (lua_type(L, 1) == LUA_TTABLE) {
        lua_settop(L, 1);
    } else {
        return luaL_error(L, "automl.dataset: expected a path or a table { path = ... }, got %s",
                          luaL_typename(L, 1));
    }
    tag(L, -1, AML_LUA_DATASET);
    return 1;
}

/* automl.search{...}: tags the spec table itself; the chunk must return it. */
static int l_search(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "automl.search: expected a table automl.search{ ... }, got %s",
                          luaL_typename(L, 1));
    lua_settop(L, 1);
    tag(L, 1, AML_LUA_SEARCH);
    return 1;
}

static int new_range(lua_State *L, const char *kind, const char *fn, int want_int)
{
    for (int i = 1; i <= 2; i++) {
        if (lua_type(L, i) != LUA_TNUMBER)
            return luaL_error(L, "automl.%s: argument %d (%s) must be a number, got %s", fn, i,
                              i == 1 ? "lo" : "hi", luaL_typename(L, i));
        if (want_int && !lua_isinteger(L, i)) {
            lua_Number x = lua_tonumber(L, i);
            if (x != (lua_Number)(lua_Integer)x)
                return luaL_error(L, "automl.%s: argument %d (%s) must be an integer, got %s", fn,
                                  i, i == 1 ? "lo" : "hi", lua_tostring(L, i));
        }
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "lo");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "hi");
    int log = !strcmp(kind, "loguniform");
    if (want_int && !lua_isnoneornil(L, 3)) {
        if (lua_type(L, 3) != LUA_TTABLE)
            return luaL_error(L, "automl.int: argument 3 must be a table { log = true }, got %s",
                              luaL_typename(L, 3));
        lua_getfield(L, 3, "log");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            return luaL_error(L, "automl.int: log must be a boolean, got %s", luaL_typename(L, -1));
        log = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, log);
    lua_setfield(L, -2, "log");
    tag(L, -1, AML_LUA_RANGE);
    return 1;
}

static int l_uniform(lua_State *L) { return new_range(L, "uniform", "uniform", 0); }
static int l_loguniform(lua_State *L) { return new_range(L, "loguniform", "loguniform", 0); }
static int l_int(lua_State *L) { return new_range(L, "int", "int", 1); }

/* automl.choice{ a, b, ... }: the values are copied, so later edits of the list do not leak in. */
static int l_choice(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "automl.choice: expected a list automl.choice{ a, b, ... }, got %s",
                          luaL_typename(L, 1));
    lua_Integer n = luaL_len(L, 1);
    if (n < 1)
        return luaL_error(L, "automl.choice: needs at least one value");
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "choice");
    lua_setfield(L, -2, "kind");
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_geti(L, 1, i);
        /* tables: pipelines, for features = automl.choice{ {...}, {...} } */
        if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN && t != LUA_TTABLE)
            return luaL_error(L, "automl.choice: value %d must be a string, number, boolean or a list of "
                              "feature steps, got %s", (int)i, lua_typename(L, t));
        lua_seti(L, -2, i);
    }
    lua_setfield(L, -2, "values");
    tag(L, -1, AML_LUA_RANGE);
    return 1;
}

static const luaL_Reg automl_funcs[] = {
    {"dataset", l_dataset}, {"search", l_search},   {"uniform", l_uniform},
    {"loguniform", l_loguniform}, {"int", l_int}, {"choice", l_choice},
    {NULL, NULL},
};

int luaopen_automl(lua_State *L)
{
    /* Weak keys: a tagged table the spec drops is not kept alive by its line number. */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, LINES_KEY);
    luaL_newmetatable(L, AML_LUA_DATASET);
    luaL_newmetatable(L, AML_LUA_SEARCH);
    luaL_newmetatable(L, AML_LUA_RANGE);
    lua_pop(L, 3);
    luaL_newlib(L, automl_funcs);
    lua_pushliteral(L, AML_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

/* "...:<digits>:" before the first newline: the message already says where it comes from. */
static int has_position(const char *msg)
{
    for (const char *p = msg; *p && *p != '\n'; p++) {
        if (*p != ':' || !isdigit((unsigned char)p[1]))
            continue;
        const char *q = p + 1;
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == ':')
            return 1;
    }
    return 0;
}

int aml_lua_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (has_position(msg))
        return 1;
    /* The innermost Lua function with a line: where the spec was when it raised. */
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
            return 1;
        }
    }
    lua_pushstring(L, msg);
    return 1;
}

/* ---- where a field was written: Lua tables keep no positions, the source text does ---------- */

/* Skips a long bracket "[==[ ... ]==]" opening at p; returns p when none opens there. */
static size_t skip_long(const char *s, size_t n, size_t p)
{
    size_t q = p + 1;
    int level = 0;
    while (q < n && s[q] == '=')
        level++, q++;
    if (q >= n || s[q] != '[')
        return p;
    for (q++; q < n; q++) {
        if (s[q] != ']')
            continue;
        size_t r = q + 1;
        int l = 0;
        while (r < n && s[r] == '=')
            l++, r++;
        if (l == level && r < n && s[r] == ']')
            return r + 1;
    }
    return n;
}

static size_t skip_space(const char *s, size_t n, size_t p)
{
    while (p < n && isspace((unsigned char)s[p]))
        p++;
    return p;
}

static int is_assign(const char *s, size_t n, size_t p)
{
    p = skip_space(s, n, p);
    return p < n && s[p] == '=' && (p + 1 >= n || s[p + 1] != '=');
}

/* The offset, at or after from, of `name =` / `["name"] =` (want_key) or of the string literal
 * "name"; -1 when absent. Comments and other strings are skipped, so "-- budget = 5" is not it. */
long aml_lua_scan(const char *s, size_t n, long from, const char *name, int want_key)
{
    size_t len = strlen(name), p = from < 0 ? 0 : (size_t)from;
    while (p < n) {
        char ch = s[p];
        if (ch == '-' && p + 1 < n && s[p + 1] == '-') {
            p += 2;
            size_t q = p < n && s[p] == '[' ? skip_long(s, n, p) : p;
            if (q != p) {
                p = q;
                continue;
            }
            while (p < n && s[p] != '\n')
                p++;
        } else if (ch == '"' || ch == '\'') {
            size_t start = p + 1, q = start;
            while (q < n && s[q] != ch && s[q] != '\n')
                q += s[q] == '\\' && q + 1 < n ? 2 : 1;
            size_t end = q < n ? q : n;
            p = q < n ? q + 1 : n;
            if (end - start != len || memcmp(s + start, name, len) != 0)
                continue;
            if (!want_key)
                return (long)start - 1;
            size_t b = start - 1;
            while (b > 0 && isspace((unsigned char)s[b - 1]))
                b--;
            size_t a = skip_space(s, n, p);
            if (b > 0 && s[b - 1] == '[' && a < n && s[a] == ']' && is_assign(s, n, a + 1))
                return (long)b - 1;
        } else if (ch == '[') {
            size_t q = skip_long(s, n, p);
            p = q != p ? q : p + 1;
        } else if (isalpha((unsigned char)ch) || ch == '_' || isdigit((unsigned char)ch)) {
            size_t q = p;
            while (q < n && (isalnum((unsigned char)s[q]) || s[q] == '_' || s[q] == '.'))
                q++;
            /* A number such as 1e5 is no identifier; neither is a.b's tail (q stops at '.'). */
            if (want_key && !isdigit((unsigned char)ch) && q - p == len && !memcmp(s + p, name, len) &&
                is_assign(s, n, q))
                return (long)p;
            if (q == p)
                q++;
            p = q;
        } else {
            p++;
        }
    }
    return -1;
}

/* ---- on_trial ----------------------------------------------------------------------------------- */

/* The parsed params JSON lives in a userdata whose __gc frees it, so a Lua error while the table
 * is built (out of memory) leaks nothing. */
static const char JSON_BOX[] = "automl.JsonBox";

static int json_box_gc(lua_State *L)
{
    cJSON **box = lua_touserdata(L, 1);
    if (box && *box) {
        cJSON_Delete(*box);
        *box = NULL;
    }
    return 0;
}

static void push_json(lua_State *L, const cJSON *j, int depth)
{
    luaL_checkstack(L, 4, "params JSON nested too deeply");
    if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
        lua_newtable(L);
        if (depth > 32)
            return; /* our own params are flat; do not let a hostile string blow the C stack */
        lua_Integer i = 1;
        for (const cJSON *e = j->child; e; e = e->next) {
            push_json(L, e, depth + 1);
            if (cJSON_IsArray(j))
                lua_seti(L, -2, i++);
            else
                lua_setfield(L, -2, e->string ? e->string : "");
        }
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9.0e15)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else {
        lua_pushnil(L);
    }
}

/* Builds the table on_trial receives from the aml_trial_summary passed as light userdata. */
static int build_trial(lua_State *L)
{
    const aml_trial_summary *t = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)t->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, t->model ? t->model : "");
    lua_setfield(L, -2, "model");
    lua_pushstring(L, t->status ? t->status : "");
    lua_setfield(L, -2, "status");
    if (!isnan(t->score)) { /* a failed trial has no score: nil, not NaN */
        lua_pushnumber(L, t->score);
        lua_setfield(L, -2, "score");
    }
    lua_pushnumber(L, t->seconds);
    lua_setfield(L, -2, "seconds");
    cJSON **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, JSON_BOX)) {
        lua_pushcfunction(L, json_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (t->params_json && (*box = cJSON_Parse(t->params_json)) != NULL && cJSON_IsObject(*box))
        push_json(L, *box, 0);
    else if (t->params_json)
        lua_pushstring(L, t->params_json); /* not an object: hand over the text as it is */
    else
        lua_newtable(L);
    lua_setfield(L, -3, "params");
    cJSON_Delete(*box); /* now rather than at the next collection; __gc then finds NULL */
    *box = NULL;
    lua_pop(L, 1);
    return 1;
}

/* "FILE:LINE: msg" -> "FILE:LINE: on_trial: msg"; a message from elsewhere gets the callback's
 * own position in front. */
static aml_status on_trial_error(aml_ctx *c, aml_status st, const aml_search_spec *s, const char *msg)
{
    const char *path = s->spec_path ? s->spec_path : "spec";
    size_t plen = strlen(path);
    const char *rest = msg;
    if (!strncmp(msg, "...", 3)) { /* Lua's shortened chunk name: match it against the path's tail */
        const char *colon = msg + 3;
        while ((colon = strchr(colon, ':')) && !isdigit((unsigned char)colon[1]))
            colon++;
        size_t tail = colon ? (size_t)(colon - msg - 3) : 0;
        if (colon && tail <= plen && !memcmp(path + plen - tail, msg + 3, tail))
            rest = colon;
        else
            rest = NULL;
    } else if (!strncmp(msg, path, plen) && msg[plen] == ':') {
        rest = msg + plen;
    } else {
        rest = NULL;
    }
    if (rest && isdigit((unsigned char)rest[1])) {
        const char *q = rest + 1;
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == ':') {
            q += *(q + 1) == ' ' ? 2 : 1;
            return aml_fail(c, st, "%s%.*s on_trial: %s", path, (int)(q - rest - 1), rest, q);
        }
    }
    return aml_fail(c, st, "%s:%d: on_trial: %s", path, s->on_trial_line, msg);
}

/* The error of a failed call: a stop by the interrupt is AML_ERR_CANCELLED, with the hook's own
 * message (whatever a pcall in the callback made of it on the way out). */
static aml_status call_error(aml_ctx *c, const aml_search_spec *s, lua_State *L)
{
    const char *stop_msg;
    int why = aml_lua_stopped(L, &stop_msg);
    if (why == AML_LUA_CANCELLED || why == AML_LUA_DEADLINE)
        return on_trial_error(c, AML_ERR_CANCELLED, s, stop_msg);
    return on_trial_error(c, AML_ERR_INPUT, s, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
}

int aml_spec_on_trial(aml_ctx *c, aml_search_spec *s, const aml_trial_summary *t)
{
    if (!s || !s->lua || s->on_trial_ref == LUA_NOREF || s->on_trial_ref == LUA_REFNIL || !t)
        return 0;
    lua_State *L = s->lua;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8))
        return aml_fail(c, AML_ERR_NOMEM, "%s: on_trial: Lua stack exhausted", s->spec_path);
    aml_lua_rearm(L);
    lua_pushcfunction(L, aml_lua_msgh);
    lua_pushcfunction(L, build_trial);
    lua_pushlightuserdata(L, (void *)t);
    if (lua_pcall(L, 1, 1, top + 1) != LUA_OK) {
        aml_status st = call_error(c, s, L);
        lua_settop(L, top);
        return st;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->on_trial_ref);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, top + 1) != LUA_OK) {
        aml_status st = call_error(c, s, L);
        lua_settop(L, top);
        return st;
    }
    int stop = (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) ||
               (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "stop"));
    lua_settop(L, top);
    return stop;
}
