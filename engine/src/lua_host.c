/* Runs a Lua spec file and turns the table it returns into an aml_search_spec, checking every
 * field (DESIGN.md §5) and every model parameter against the plugin registry, and calls the spec's
 * on_trial callback during the search. Every mistake is one line "FILE:LINE: field: expected". */
#include "lua_host.h"

#include "lua_automl.h"
#include "lua_sandbox.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char TOP_FIELDS[] = "data, task, metric, budget, resampling, models, features, strategy, "
                                 "parallel, threads, ensemble, seed, export, plugins, out, on_trial, warm_start";

int aml_spec_raise(aml_spec_loader *ld, int line, const char *fmt, ...)
{
    char msg[1024];
    int n = line > 0 ? snprintf(msg, sizeof msg, "%s:%d: ", ld->path, line)
                     : snprintf(msg, sizeof msg, "%s: ", ld->path);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    lua_pushstring(ld->L, msg);
    return lua_error(ld->L);
}

/* ---- finding the line a field was written on ------------------------------------------------ */

int aml_spec_line_at(const aml_spec_loader *ld, long off)
{
    int line = 1;
    for (long i = 0; i < off && (size_t)i < ld->src_len; i++)
        line += ld->src[i] == '\n';
    return line;
}

static long line_start(const aml_spec_loader *ld, int line)
{
    size_t p = 0;
    for (int l = 1; l < line && p < ld->src_len; p++)
        l += ld->src[p] == '\n';
    return (long)p;
}

/* Where `key =` is written inside the table starting at base; base itself when not written out. */
long aml_spec_key_off(const aml_spec_loader *ld, long base, const char *key)
{
    long off = aml_lua_scan(ld->src, ld->src_len, base, key, 1);
    return off >= 0 ? off : base;
}

int aml_spec_key_line(const aml_spec_loader *ld, long base, const char *key)
{
    return aml_spec_line_at(ld, aml_spec_key_off(ld, base, key));
}

/* ---- typed field readers ---------------------------------------------------------------------- */

/* Pushes t[key] without metamethods; returns its type. */
int aml_spec_field(lua_State *L, int t, const char *key)
{
    lua_pushstring(L, key);
    return lua_rawget(L, t);
}

const char *aml_spec_numtext(lua_State *L, int idx, char *buf, size_t n)
{
    if (lua_isinteger(L, idx))
        snprintf(buf, n, "%lld", (long long)lua_tointeger(L, idx));
    else
        snprintf(buf, n, "%.14g", lua_tonumber(L, idx));
    return buf;
}

/* An integral number at idx (1 or 2.0, not 2.5 nor "2"). */
int aml_spec_getint(lua_State *L, int idx, lua_Integer *v)
{
    int ok = 0;
    *v = 0;
    if (lua_type(L, idx) == LUA_TNUMBER)
        *v = lua_tointegerx(L, idx, &ok);
    return ok;
}

/* Checks that every key of the table at t is one of names (", "-separated); which names a
 * field name (prefix, "" at top level). The earliest unknown key in the source is reported. */
static void check_keys(aml_spec_loader *ld, int t, long base, int line, const char *which, const char *names)
{
    lua_State *L = ld->L;
    const char *bad = NULL;
    long bad_off = -1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            char kb[64];
            const char *k = lua_type(L, -1) == LUA_TNUMBER ? aml_spec_numtext(L, -1, kb, sizeof kb)
                                                           : luaL_typename(L, -1);
            aml_spec_raise(ld, line, "%s%sunexpected value at [%s]: fields are named, as in key = value", which,
                           *which ? ": " : "", k);
        }
        const char *key = lua_tostring(L, -1);
        size_t klen = strlen(key);
        const char *p = names;
        int known = 0;
        while ((p = strstr(p, key)) != NULL) {
            if ((p == names || p[-1] == ' ') && (p[klen] == ',' || p[klen] == 0)) {
                known = 1;
                break;
            }
            p += klen;
        }
        long off = aml_lua_scan(ld->src, ld->src_len, base, key, 1);
        if (!known && (!bad || (off >= 0 && (bad_off < 0 || off < bad_off)))) {
            bad = key; /* stays valid: the key lives on in the table */
            bad_off = off;
        }
    }
    if (bad)
        aml_spec_raise(ld, bad_off >= 0 ? aml_spec_line_at(ld, bad_off) : line, "%s%sunknown field '%s' (expected one of: %s)",
                 which, *which ? ": " : "", bad, names);
}

/* A string field, or NULL when absent. */
static const char *opt_string(aml_spec_loader *ld, int t, long base, const char *key, const char *field)
{
    lua_State *L = ld->L;
    int ty = aml_spec_field(L, t, key);
    const char *s = NULL;
    if (ty == LUA_TSTRING)
        s = lua_tostring(L, -1);
    else if (ty != LUA_TNIL)
        aml_spec_raise(ld, aml_spec_key_line(ld, base, key), "%s: expected a string, got %s", field, lua_typename(L, ty));
    lua_pop(L, 1); /* s stays valid: t still holds the string */
    return s;
}

/* Index of s in the ", "-separated list names, or -1. */
static int list_index(const char *names, const char *s)
{
    size_t len = strlen(s);
    int i = 0;
    for (const char *p = names; *p; i++) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && !memcmp(p, s, len))
            return i;
        if (!e)
            break;
        p = e + 2;
    }
    return -1;
}

static int opt_enum(aml_spec_loader *ld, int t, long base, const char *key, const char *field, const char *names,
                    int def)
{
    const char *s = opt_string(ld, t, base, key, field);
    if (!s)
        return def;
    int i = list_index(names, s);
    if (i < 0)
        aml_spec_raise(ld, aml_spec_key_line(ld, base, key), "%s: must be one of %s, got '%s'", field, names, s);
    return i;
}

/* t[key], a list of strings: copies into *out and its length into *n_out (owned by the spec). */
static void string_list(aml_spec_loader *ld, int t, long base, const char *key, const char *field, char ***out,
                        int *n_out)
{
    lua_State *L = ld->L;
    int ty = aml_spec_field(L, t, key), line = aml_spec_key_line(ld, base, key);
    if (ty != LUA_TTABLE)
        aml_spec_raise(ld, line, "%s: expected a list of strings, got %s", field, lua_typename(L, ty));
    int v = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, v);
    /* Keys beyond the list part are mistakes ({ "a", x = 1 }). */
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_Integer k;
        lua_pop(L, 1);
        if (!aml_spec_getint(L, -1, &k) || k < 1 || k > n)
            aml_spec_raise(ld, line, "%s: expected a list of strings, got a table with key '%s'", field,
                     luaL_tolstring(L, -1, NULL));
    }
    *out = aml_xcalloc((size_t)n + 1, sizeof(char *));
    *n_out = (int)n;
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, v, i) != LUA_TSTRING)
            aml_spec_raise(ld, line, "%s[%lld]: expected a string, got %s", field, (long long)i, luaL_typename(L, -1));
        (*out)[i - 1] = aml_xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A relative path the spec names, resolved against the spec's directory. */
static char *spec_relative(const aml_spec_loader *ld, const char *p)
{
    if (p[0] == '/' || !strcmp(ld->dir, "."))
        return aml_xstrdup(p);
    return aml_xasprintf("%s/%s", ld->dir, p);
}

/* ---- the fields ------------------------------------------------------------------------------- */

static void read_data(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "data"), v = lua_gettop(L);
    int line = aml_spec_key_line(ld, ld->search_off, "data");
    const char *path = NULL;
    if (ty == LUA_TNIL)
        aml_spec_raise(ld, line, "data: required: a path or automl.dataset(...)");
    if (ty == LUA_TSTRING) {
        path = lua_tostring(L, v);
    } else if (aml_lua_is(L, v, AML_LUA_DATASET)) {
        int dline = aml_lua_line_of(L, v);
        long dbase = line_start(ld, dline);
        check_keys(ld, v, dbase, dline, "data", "path, target, drop");
        path = opt_string(ld, v, dbase, "path", "data.path");
        if (!path)
            aml_spec_raise(ld, dline, "data.path: required: the dataset file");
        line = aml_spec_key_line(ld, dbase, "path");
        const char *target = opt_string(ld, v, dbase, "target", "data.target");
        o->data_target = aml_xstrdup(target);
        if (aml_spec_field(L, v, "drop") != LUA_TNIL)
            string_list(ld, v, dbase, "drop", "data.drop", &o->data_drop, &o->n_data_drop);
        lua_pop(L, 1);
    } else {
        aml_spec_raise(ld, line, "data: expected a path or automl.dataset(...), got %s", luaL_typename(L, v));
    }
    if (!*path)
        aml_spec_raise(ld, line, "data: the path is empty");
    /* A relative path names a file under the working directory when there is one, else one next
     * to the spec: `automl search scripts/iris.lua` works from the top and from scripts/. */
    if (path[0] == '/' || ld->trust_paths || file_exists(path)) {
        o->data_path = aml_xstrdup(path);
    } else {
        o->data_path = spec_relative(ld, path);
        if (!file_exists(o->data_path)) {
            if (strcmp(ld->dir, "."))
                aml_spec_raise(ld, line, "data: no such file '%s' (looked in the current directory and in '%s')",
                         path, ld->dir);
            aml_spec_raise(ld, line, "data: no such file '%s'", path);
        }
    }
    lua_pop(L, 1);
}

static const char CLASSIFICATION_METRICS[] = "accuracy, balanced_accuracy, log_loss, roc_auc, f1_macro";
static const char REGRESSION_METRICS[] = "rmse, mae, r2";

static void read_task_metric(aml_spec_loader *ld, int t)
{
    aml_search_spec *o = ld->out;
    o->task = opt_enum(ld, t, ld->search_off, "task", "task", "auto, classification, regression", 0);
    if (o->task == 1)
        o->task = AML_TASK_CLASSIFICATION;
    else if (o->task == 2)
        o->task = AML_TASK_REGRESSION;
    const char *m = opt_string(ld, t, ld->search_off, "metric", "metric");
    if (!m)
        m = "auto";
    int line = aml_spec_key_line(ld, ld->search_off, "metric");
    int is_clf = list_index(CLASSIFICATION_METRICS, m) >= 0, is_reg = list_index(REGRESSION_METRICS, m) >= 0;
    if (strcmp(m, "auto") && !is_clf && !is_reg)
        aml_spec_raise(ld, line, "metric: must be one of auto, %s, %s, got '%s'", CLASSIFICATION_METRICS,
                 REGRESSION_METRICS, m);
    if ((is_clf && o->task == AML_TASK_REGRESSION) || (is_reg && o->task == AML_TASK_CLASSIFICATION))
        aml_spec_raise(ld, line, "metric: '%s' is a %s metric, but task is '%s'", m,
                 is_clf ? "classification" : "regression",
                 o->task == AML_TASK_REGRESSION ? "regression" : "classification");
    o->metric = aml_xstrdup(m);
}

static void read_budget(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "budget"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "budget");
    int line = aml_spec_line_at(ld, base);
    if (ty == LUA_TNUMBER) { /* budget = 30: seconds */
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, v);
        lua_setfield(L, -2, "seconds");
        lua_replace(L, v);
    } else if (ty != LUA_TNIL && ty != LUA_TTABLE) {
        aml_spec_raise(ld, line, "budget: expected a table { seconds = ..., trials = ... }, got %s",
                 lua_typename(L, ty));
    }
    if (ty != LUA_TNIL) {
        check_keys(ld, v, base, line, "budget", "seconds, trials");
        char nb[64];
        if (aml_spec_field(L, v, "seconds") != LUA_TNIL) {
            int sl = aml_spec_key_line(ld, base, "seconds");
            if (lua_type(L, -1) != LUA_TNUMBER)
                aml_spec_raise(ld, sl, "budget.seconds: expected a number, got %s", luaL_typename(L, -1));
            double s = lua_tonumber(L, -1);
            if (!(s > 0))
                aml_spec_raise(ld, sl, "budget.seconds: must be > 0, got %s", aml_spec_numtext(L, -1, nb, sizeof nb));
            if (!(s <= AML_MAX_BUDGET_SECONDS))
                aml_spec_raise(ld, sl, "budget.seconds: must be in (0, %d] (30 days), got %s", AML_MAX_BUDGET_SECONDS,
                               aml_spec_numtext(L, -1, nb, sizeof nb));
            o->budget_seconds = s;
            o->budget_seconds_given = 1;
        }
        lua_pop(L, 1);
        if (aml_spec_field(L, v, "trials") != LUA_TNIL) {
            lua_Integer n;
            int tl = aml_spec_key_line(ld, base, "trials");
            if (lua_type(L, -1) != LUA_TNUMBER)
                aml_spec_raise(ld, tl, "budget.trials: expected an integer, got %s", luaL_typename(L, -1));
            if (!aml_spec_getint(L, -1, &n) || n < 1 || n > AML_MAX_TRIALS)
                aml_spec_raise(ld, tl, "budget.trials: must be an integer in [1, %lld], got %s", AML_MAX_TRIALS,
                               aml_spec_numtext(L, -1, nb, sizeof nb));
            o->budget_trials = n;
        }
        lua_pop(L, 1);
    }
    if (o->budget_seconds == 0 && o->budget_trials == 0)
        o->budget_seconds = 60;
    lua_pop(L, 1);
}

static void read_resampling(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "resampling"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "resampling");
    int line = aml_spec_line_at(ld, base);
    o->resampling = AML_RESAMPLE_AUTO;
    o->folds = 5;
    o->repeats = 0;
    o->holdout_fraction = 0.2;
    if (ty == LUA_TSTRING) { /* resampling = "holdout" */
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, v);
        lua_setfield(L, -2, "kind");
        lua_replace(L, v);
    } else if (ty != LUA_TNIL && ty != LUA_TTABLE) {
        aml_spec_raise(ld, line, "resampling: expected a table { kind = ... }, got %s", lua_typename(L, ty));
    }
    if (ty != LUA_TNIL) {
        check_keys(ld, v, base, line, "resampling", "kind, folds, repeats, fraction");
        int k = opt_enum(ld, v, base, "kind", "resampling.kind", "auto, holdout, kfold, repeated", 0);
        o->resampling = k == 1 ? AML_RESAMPLE_HOLDOUT : k >= 2 ? AML_RESAMPLE_KFOLD : AML_RESAMPLE_AUTO;
        o->repeats = k == 3 ? 3 : k == 2 ? 1 : 0; /* repeated: 3 unless given; kfold: plain */
        char nb[64];
        if (aml_spec_field(L, v, "repeats") != LUA_TNIL) {
            lua_Integer r;
            if (!aml_spec_getint(L, -1, &r) || r < 1 || r > AML_MAX_REPEATS)
                aml_spec_raise(ld, aml_spec_key_line(ld, base, "repeats"), "resampling.repeats: must be an integer in [1, %d], got %s", AML_MAX_REPEATS,
                         lua_type(L, -1) == LUA_TNUMBER ? aml_spec_numtext(L, -1, nb, sizeof nb) : luaL_typename(L, -1));
            if (k == 1)
                aml_spec_raise(ld, aml_spec_key_line(ld, base, "repeats"), "resampling.repeats: a holdout has no repeats (use kind = \"kfold\" or \"repeated\")");
            o->repeats = (int)r;
        }
        lua_pop(L, 1);
        if (aml_spec_field(L, v, "folds") != LUA_TNIL) {
            lua_Integer f;
            if (!aml_spec_getint(L, -1, &f) || f < 2 || f > 20)
                aml_spec_raise(ld, aml_spec_key_line(ld, base, "folds"), "resampling.folds: must be an integer in [2, 20], got %s",
                         lua_type(L, -1) == LUA_TNUMBER ? aml_spec_numtext(L, -1, nb, sizeof nb) : luaL_typename(L, -1));
            o->folds = (int)f;
        }
        lua_pop(L, 1);
        if (aml_spec_field(L, v, "fraction") != LUA_TNIL) {
            double f = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !(f > 0 && f < 1))
                aml_spec_raise(ld, aml_spec_key_line(ld, base, "fraction"), "resampling.fraction: must be in (0, 1), got %s",
                         lua_type(L, -1) == LUA_TNUMBER ? aml_spec_numtext(L, -1, nb, sizeof nb) : luaL_typename(L, -1));
            o->holdout_fraction = f;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Paths are loaded before models are checked, so a spec can name its own model plugins. */
static void read_plugins(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    if (aml_spec_field(L, t, "plugins") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    string_list(ld, t, ld->search_off, "plugins", "plugins", &o->plugin_paths, &o->n_plugin_paths);
    char **given = o->plugin_paths;
    int n = o->n_plugin_paths;
    int line = aml_spec_key_line(ld, ld->search_off, "plugins");
    for (int i = 0; i < n; i++) {
        char *p = spec_relative(ld, given[i]);
        free(given[i]);
        given[i] = p;
        struct stat st;
        if (ld->trust_paths)
            continue;
        if (stat(p, &st) != 0)
            aml_spec_raise(ld, line, "plugins[%d]: no such file or directory '%s'", i + 1, p);
        if (!ld->reg)
            continue;
        if (S_ISDIR(st.st_mode))
            aml_registry_scan_dir(ld->reg, p);
        else if (aml_registry_load_file(ld->reg, ld->c, p) != AML_OK)
            aml_spec_raise(ld, line, "plugins[%d]: %s", i + 1, aml_errmsg(ld->c));
    }
}

/* An integer in [1, AML_MAX_THREADS] or "auto" (0). */
static int auto_or_count(aml_spec_loader *ld, int t, const char *key)
{
    lua_State *L = ld->L;
    int ty = aml_spec_field(L, t, key), n = 0;
    lua_Integer v = 0;
    if (ty == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "auto")) {
        n = 0;
    } else if (ty != LUA_TNIL) {
        char nb[64];
        if (!aml_spec_getint(L, -1, &v) || v < 1 || v > AML_MAX_THREADS)
            aml_spec_raise(ld, aml_spec_key_line(ld, ld->search_off, key),
                           "%s: must be \"auto\" or an integer in [1, %d], got %s", key, AML_MAX_THREADS,
                     ty == LUA_TNUMBER ? aml_spec_numtext(L, -1, nb, sizeof nb)
                     : ty == LUA_TSTRING ? lua_pushfstring(L, "'%s'", lua_tostring(L, -1))
                                         : lua_typename(L, ty));
        n = (int)v;
    }
    lua_pop(L, 1);
    return n;
}

static void read_misc(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    long base = ld->search_off;
    char nb[64];

    static const char *strategies[] = {"auto", "random", "tpe", "halving"};
    o->strategy = aml_xstrdup(strategies[opt_enum(ld, t, base, "strategy", "strategy", "auto, random, tpe, halving", 0)]);
    o->parallel_trials = auto_or_count(ld, t, "parallel");
    o->threads = auto_or_count(ld, t, "threads");

    int ty = aml_spec_field(L, t, "ensemble");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
        aml_spec_raise(ld, aml_spec_key_line(ld, base, "ensemble"), "ensemble: expected true or false, got %s", lua_typename(L, ty));
    o->ensemble = ty == LUA_TNIL ? 1 : lua_toboolean(L, -1); /* on by default */
    lua_pop(L, 1);

    ty = aml_spec_field(L, t, "seed");
    if (ty != LUA_TNIL) {
        lua_Integer s;
        if (!aml_spec_getint(L, -1, &s) || s < 0)
            aml_spec_raise(ld, aml_spec_key_line(ld, base, "seed"), "seed: must be an integer >= 0, got %s",
                     ty == LUA_TNUMBER ? aml_spec_numtext(L, -1, nb, sizeof nb) : lua_typename(L, ty));
        o->seed = (uint64_t)s;
    }
    lua_pop(L, 1);

    const char *out = opt_string(ld, t, base, "out", "out");
    if (out && !*out)
        aml_spec_raise(ld, aml_spec_key_line(ld, base, "out"), "out: the run directory is empty");
    o->out_dir = aml_xstrdup(out);

    ty = aml_spec_field(L, t, "on_trial");
    if (ty == LUA_TFUNCTION) {
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">S", &ar);
        o->on_trial_line = ar.linedefined > 0 ? ar.linedefined : aml_spec_key_line(ld, base, "on_trial");
        o->on_trial_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        if (ty != LUA_TNIL)
            aml_spec_raise(ld, aml_spec_key_line(ld, base, "on_trial"), "on_trial: expected a function, got %s", lua_typename(L, ty));
        lua_pop(L, 1);
    }
}

/* A plain name for a directory in the model repository. */
static int plain_name(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* The data file's name without directory and extension: "datasets/iris.h5" -> "iris". */
static char *stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *s = aml_xmalloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

/* Exporter names are checked only when some exporter plugin is loaded: without any, the search
 * can still run and the export step says what is missing. */
static void check_exporters(aml_spec_loader *ld, long base)
{
    aml_search_spec *o = ld->out;
    char names[512] = "";
    for (int i = 0; ld->reg && i < aml_registry_count(ld->reg); i++) {
        const aml_plugin *p = aml_registry_at(ld->reg, i);
        if (p->desc->kind == AML_PLUGIN_EXPORTER)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "", p->desc->name);
    }
    for (int i = 0; *names && i < o->n_exporters; i++)
        if (!aml_registry_find(ld->reg, AML_PLUGIN_EXPORTER, o->exporters[i]))
            aml_spec_raise(ld, aml_spec_key_line(ld, base, "exporters"),
                           "export.exporters[%d]: unknown exporter '%s' (available: %s)", i + 1, o->exporters[i], names);
}

static void read_export(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "export"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "export");
    int line = aml_spec_line_at(ld, base);
    const char *to = NULL, *name = NULL;
    if (ty != LUA_TNIL && ty != LUA_TTABLE)
        aml_spec_raise(ld, line, "export: expected a table { to = ..., name = ... }, got %s", lua_typename(L, ty));
    if (ty == LUA_TTABLE) {
        check_keys(ld, v, base, line, "export", "to, name, exporters");
        to = opt_string(ld, v, base, "to", "export.to");
        if (to && !*to)
            aml_spec_raise(ld, aml_spec_key_line(ld, base, "to"), "export.to: the repository directory is empty");
        name = opt_string(ld, v, base, "name", "export.name");
        if (name && !plain_name(name))
            aml_spec_raise(ld, aml_spec_key_line(ld, base, "name"),
                     "export.name: must be a plain name (letters, digits, '-', '_', '.'), got '%s'", name);
        if (aml_spec_field(L, v, "exporters") != LUA_TNIL) {
            string_list(ld, v, base, "exporters", "export.exporters", &o->exporters, &o->n_exporters);
            if (o->n_exporters == 0)
                aml_spec_raise(ld, aml_spec_key_line(ld, base, "exporters"), "export.exporters: must name at least one exporter");
        }
        lua_pop(L, 1);
    }
    o->export_to = aml_xstrdup(to ? to : "models");
    o->export_name = name ? aml_xstrdup(name) : stem(o->data_path);
    if (!name && !plain_name(o->export_name))
        aml_spec_raise(ld, line, "export.name: the data file's name '%s' is no plain name; set export.name",
                 o->export_name);
    if (!o->exporters) {
        o->exporters = aml_xcalloc(2, sizeof(char *));
        o->exporters[0] = aml_xstrdup("native");
        o->n_exporters = 1;
    }
    check_exporters(ld, base);
    lua_pop(L, 1);
}

/* The chunk to run: the spec text without a UTF-8 byte order mark and a first line "#!..."
 * (whose newline stays, so that line numbers hold), as luaL_loadfile would skip them. */
static const char *chunk_start(const aml_spec_loader *ld, size_t *n)
{
    const char *p = ld->src, *end = ld->src + ld->src_len;
    if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    if (p < end && *p == '#')
        while (p < end && *p != '\n')
            p++;
    *n = (size_t)(end - p);
    return p;
}

/* The protected part of aml_spec_load: runs the chunk, then reads and checks the spec. */
static int load_protected(lua_State *L)
{
    aml_spec_loader *ld = lua_touserdata(L, 1);
    aml_lua_open_libs(L);
    luaL_requiref(L, "automl", luaopen_automl, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, aml_lua_msgh);
    int msgh = lua_gettop(L);
    size_t n;
    const char *chunk = chunk_start(ld, &n);
    /* Lua does not verify bytecode: a corrupt chunk would crash the process. */
    if (n > 0 && chunk[0] == LUA_SIGNATURE[0])
        return aml_spec_raise(ld, 0, "a precompiled (binary) Lua chunk is refused: a spec must be Lua source text");
    lua_pushfstring(L, "@%s", ld->path);
    int loaded = luaL_loadbufferx(L, chunk, n, lua_tostring(L, -1), "t");
    lua_remove(L, -2);
    if (loaded != LUA_OK)
        return lua_error(L); /* Lua's own "file:line: ... near ..." */
    if (lua_pcall(L, 0, 1, msgh) != LUA_OK)
        return lua_error(L);
    int t = lua_gettop(L);
    if (!aml_lua_is(L, t, AML_LUA_SEARCH))
        return aml_spec_raise(ld, 0, "the spec must return automl.search{...}");
    int line = aml_lua_line_of(L, t);
    ld->search_off = line_start(ld, line);
    check_keys(ld, t, ld->search_off, line, "", TOP_FIELDS);
    read_data(ld, t);
    read_task_metric(ld, t);
    read_budget(ld, t);
    read_resampling(ld, t);
    read_plugins(ld, t);
    aml_spec_read_models(ld, t);
    aml_spec_read_warm_start(ld, t);
    aml_spec_read_features(ld, t);
    read_misc(ld, t);
    read_export(ld, t);
    return 0;
}

/* Lua shortens a long chunk name to "...tail"; users gave the whole path, so put it back. */
static void set_lua_error(aml_ctx *c, aml_status st, const char *path, const char *msg)
{
    if (!msg)
        msg = "(error without a message)";
    if (!strncmp(msg, "...", 3)) {
        const char *colon = msg + 3;
        while ((colon = strchr(colon, ':')) && !isdigit((unsigned char)colon[1]))
            colon++;
        size_t tail = colon ? (size_t)(colon - msg - 3) : 0, plen = strlen(path);
        if (colon && tail <= plen && !memcmp(path + plen - tail, msg + 3, tail)) {
            aml_fail(c, st, "%s%s", path, colon);
            return;
        }
    }
    aml_fail(c, st, "%s", msg);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return aml_xstrdup(".");
    if (slash == path)
        return aml_xstrdup("/");
    char *d = aml_xmalloc((size_t)(slash - path) + 1);
    memcpy(d, path, (size_t)(slash - path));
    d[slash - path] = 0;
    return d;
}

/* Runs the spec text src[0..n) (path: where it came from), taking src over. */
static aml_status load_spec(aml_ctx *c, const char *path, char *src, size_t n, aml_registry *reg,
                            const aml_spec_options *opt, aml_search_spec *out)
{
    aml_search_spec tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.on_trial_ref = LUA_NOREF;
    char *dir = NULL;
    aml_status st;
    aml_sha256_hex(src, n, tmp.spec_hash);
    tmp.spec_path = aml_xstrdup(path);
    dir = dir_of(path);
    aml_lua_limits lim = {0};
    if (opt)
        lim = (aml_lua_limits){.unsafe = opt->unsafe, .max_memory = opt->max_memory,
                               .max_instructions = opt->max_instructions, .cancel = opt->cancel,
                               .deadline = opt->deadline};
    lua_State *L = aml_lua_new(&lim);
    if (!L) {
        st = aml_fail(c, AML_ERR_NOMEM, "%s: cannot create a Lua state", path);
        goto fail;
    }
    tmp.lua = L;
    aml_spec_loader ld = {.L = L, .path = path, .dir = dir, .src = src, .src_len = n, .reg = reg, .c = c, .out = &tmp,
                          .trust_paths = opt && opt->trust_paths};
    lua_pushcfunction(L, load_protected);
    lua_pushlightuserdata(L, &ld);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1), *stop_msg;
        char mem_msg[256];
        size_t cap;
        int why = aml_lua_stopped(L, &stop_msg);
        st = rc == LUA_ERRMEM ? AML_ERR_NOMEM : AML_ERR_INPUT;
        if (why == AML_LUA_CANCELLED || why == AML_LUA_DEADLINE) {
            msg = stop_msg; /* whatever the spec made of the error on its way out */
            st = AML_ERR_CANCELLED;
        } else if (why == AML_LUA_INSTRUCTIONS) {
            msg = stop_msg;
        } else if (aml_lua_over_memory(L, &cap) && msg && strstr(msg, "not enough memory")) {
            snprintf(mem_msg, sizeof mem_msg, "%s: the spec needs more memory than the %zu MiB a spec may use", path,
                     cap >> 20);
            msg = mem_msg; /* no Lua call here: the state is out of memory */
            st = AML_ERR_INPUT;
        }
        set_lua_error(c, st, path, msg);
        goto fail;
    }
    lua_settop(L, 0);
    /* From here on only on_trial runs, with the search's own interrupt (aml_spec_set_interrupt). */
    aml_lua_set_interrupt(L, NULL, 0);
    free(src);
    free(dir);
    *out = tmp;
    return AML_OK;
fail:
    free(src);
    free(dir);
    aml_spec_free(&tmp);
    return st;
}

aml_status aml_spec_load_with(aml_ctx *c, const char *path, aml_registry *reg, const aml_spec_options *opt,
                              aml_search_spec *out)
{
    char *src = NULL;
    size_t n = 0;
    struct stat st;
    /* Checked before it is opened: a FIFO would block, /dev/zero would never end. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return aml_fail(c, AML_ERR_INPUT, "%s: not a regular file: a spec is a Lua source file", path);
    if (stat(path, &st) == 0 && st.st_size > AML_SPEC_MAX_BYTES)
        return aml_fail(c, AML_ERR_INPUT, "%s: %lld bytes: a spec may be at most %d MiB", path,
                        (long long)st.st_size, AML_SPEC_MAX_BYTES >> 20);
    if (aml_read_file(c, path, &src, &n) != AML_OK)
        return AML_ERR_INPUT; /* a spec that is not there is the user's to fix */
    return load_spec(c, path, src, n, reg, opt, out);
}

aml_status aml_spec_load(aml_ctx *c, const char *path, aml_registry *reg, aml_search_spec *out)
{
    return aml_spec_load_with(c, path, reg, NULL, out);
}

aml_status aml_spec_load_buffer(aml_ctx *c, const char *name, const char *text, size_t n, aml_registry *reg,
                                const aml_spec_options *opt, aml_search_spec *out)
{
    char *src = aml_xmalloc(n + 1);
    memcpy(src, text, n);
    src[n] = 0;
    return load_spec(c, name, src, n, reg, opt, out);
}

void aml_spec_set_interrupt(aml_search_spec *s, const volatile int *cancel, double deadline)
{
    if (s && s->lua)
        aml_lua_set_interrupt(s->lua, cancel, deadline);
}

static void free_strings(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_model_spec(aml_model_spec *m)
{
    for (int j = 0; m->ranges && j < m->n_ranges; j++) {
        free(m->ranges[j].name);
        free(m->ranges[j].str);
        free_strings(m->ranges[j].choices, m->ranges[j].n_choices);
    }
    free(m->ranges);
    free(m->name);
}

void aml_spec_free(aml_search_spec *s)
{
    if (!s)
        return;
    for (int i = 0; s->models && i < s->n_models; i++)
        free_model_spec(&s->models[i]);
    for (int i = 0; s->warm && i < s->n_warm; i++)
        free_model_spec(&s->warm[i]);
    for (int i = 0; s->features && i < s->n_features; i++) {
        aml_features_spec *e = &s->features[i];
        for (int k = 0; e->choices && k < e->n_choices; k++) {
            for (int j = 0; e->choices[k].steps && j < e->choices[k].n_steps; j++)
                free_model_spec(&e->choices[k].steps[j]);
            free(e->choices[k].steps);
        }
        free(e->choices);
        free(e->model);
    }
    free(s->features);
    free(s->models);
    free(s->warm);
    free(s->spec_path);
    free(s->data_path);
    free(s->data_target);
    free_strings(s->data_drop, s->n_data_drop);
    free(s->metric);
    free(s->strategy);
    free(s->export_to);
    free(s->export_name);
    free_strings(s->exporters, s->n_exporters);
    free_strings(s->plugin_paths, s->n_plugin_paths);
    free(s->out_dir);
    aml_lua_close(s->lua);
    memset(s, 0, sizeof *s);
    s->on_trial_ref = LUA_NOREF;
}

const aml_features_spec *aml_spec_features_for(const aml_search_spec *s, const char *model)
{
    const aml_features_spec *fallback = NULL;
    for (int i = 0; s && i < s->n_features; i++) {
        if (!s->features[i].model)
            fallback = &s->features[i];
        else if (!strcmp(s->features[i].model, model))
            return &s->features[i];
    }
    return fallback;
}
