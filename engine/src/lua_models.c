/* The spec's models field: model names checked against the plugin registry, and each parameter
 * override (a fixed value or an automl.* range) against the plugin's declared type and range. */
#include "lua_host.h"

#include "config.h"
#include "lua_automl.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const aml_model_spec *)a)->name, ((const aml_model_spec *)b)->name);
}

/* Appends ", name" (or "name" first) to a bounded buffer. */
static void append_name(char *buf, size_t n, const char *name)
{
    size_t used = strlen(buf);
    if (used + 1 < n)
        snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
}

const char *aml_spec_plugin_names(const aml_registry *reg, aml_plugin_kind kind, char *buf, size_t n)
{
    const char *names[256];
    int k = 0;
    for (int i = 0; i < aml_registry_count(reg) && k < 256; i++) {
        const aml_plugin *p = aml_registry_at(reg, i);
        if (p->desc->kind == kind)
            names[k++] = p->desc->name;
    }
    qsort(names, (size_t)k, sizeof *names, cmp_cstr);
    buf[0] = 0;
    for (int i = 0; i < k; i++)
        append_name(buf, n, names[i]);
    if (!k)
        snprintf(buf, n, "none: no %s plugins were found", kind == AML_PLUGIN_MODEL ? "model" : "such");
    return buf;
}

static const char *model_names(const aml_registry *reg, char *buf, size_t n)
{
    return aml_spec_plugin_names(reg, AML_PLUGIN_MODEL, buf, n);
}

static int param_index(const aml_plugin_descriptor *d, const char *name)
{
    for (int i = 0; d && i < d->n_params; i++)
        if (!strcmp(d->params[i].name, name))
            return i;
    return -1;
}

static const char *choice_list(const aml_param_def *pd, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < pd->n_choices; i++)
        append_name(buf, n, pd->choices[i]);
    return buf;
}

/* Checks one value (fixed, or one of a choice's) against the parameter's definition pd (NULL:
 * no registry, taken as given). Returns the number to store (CHOICE: the index; BOOL: 0/1) and
 * sets *str to its text for CHOICE and STRING parameters (text that outlives the call). */
static double check_value(aml_spec_loader *ld, int line, const char *field, const aml_param_def *pd, int idx,
                          const char **str)
{
    lua_State *L = ld->L;
    int ty = lua_type(L, idx);
    char nb[64], lb[64], hb[64], cb[512];
    *str = NULL;
    if (!pd) {
        if (ty == LUA_TNUMBER)
            return lua_tonumber(L, idx);
        if (ty == LUA_TBOOLEAN)
            return lua_toboolean(L, idx);
        if (ty == LUA_TSTRING) {
            *str = lua_tostring(L, idx);
            return 0;
        }
        aml_spec_raise(ld, line, "%s: expected a number, string, boolean or automl.uniform/loguniform/int/choice, got %s",
                 field, lua_typename(L, ty));
    }
    snprintf(lb, sizeof lb, "%.14g", pd->lo);
    snprintf(hb, sizeof hb, "%.14g", pd->hi);
    switch (pd->type) {
    case AML_PARAM_FLOAT:
    case AML_PARAM_INT: {
        int is_int = pd->type == AML_PARAM_INT;
        lua_Integer iv;
        if (ty != LUA_TNUMBER)
            aml_spec_raise(ld, line, "%s: expected %s, got %s", field, is_int ? "an integer" : "a number",
                     lua_typename(L, ty));
        double x = lua_tonumber(L, idx);
        if (is_int && !aml_spec_getint(L, idx, &iv))
            aml_spec_raise(ld, line, "%s: must be an integer in [%s, %s], got %s", field, lb, hb,
                     aml_spec_numtext(L, idx, nb, sizeof nb));
        if (!aml_param_allows(pd, x))
            aml_spec_raise(ld, line, "%s: must be in [%s, %s], got %s", field, lb, hb, aml_spec_numtext(L, idx, nb, sizeof nb));
        return x;
    }
    case AML_PARAM_BOOL:
        if (ty != LUA_TBOOLEAN)
            aml_spec_raise(ld, line, "%s: expected true or false, got %s", field, lua_typename(L, ty));
        return lua_toboolean(L, idx);
    case AML_PARAM_CHOICE: {
        const char *text = NULL;
        if (ty == LUA_TSTRING)
            text = lua_tostring(L, idx);
        else if (ty == LUA_TNUMBER)
            text = aml_spec_numtext(L, idx, nb, sizeof nb); /* choices such as "1", "2" may be given as numbers */
        for (int i = 0; text && i < pd->n_choices; i++)
            if (!strcmp(pd->choices[i], text)) {
                *str = pd->choices[i];
                return i;
            }
        if (text)
            aml_spec_raise(ld, line, "%s: must be one of %s, got '%s'", field, choice_list(pd, cb, sizeof cb), text);
        aml_spec_raise(ld, line, "%s: expected one of %s, got %s", field, choice_list(pd, cb, sizeof cb),
                 lua_typename(L, ty));
        break;
    }
    case AML_PARAM_STRING:
        if (ty != LUA_TSTRING)
            aml_spec_raise(ld, line, "%s: expected a string, got %s", field, lua_typename(L, ty));
        *str = lua_tostring(L, idx);
        return 0;
    }
    return aml_spec_raise(ld, line, "%s: the plugin declares an unknown parameter type %d", field, (int)pd->type);
}

static const char *type_hint(const aml_param_def *pd)
{
    switch (pd->type) {
    case AML_PARAM_FLOAT: return "a number (use automl.uniform or automl.loguniform)";
    case AML_PARAM_INT: return "an integer (use automl.int)";
    case AML_PARAM_CHOICE: return "a choice (use automl.choice)";
    case AML_PARAM_BOOL: return "a boolean (use automl.choice{ true, false })";
    case AML_PARAM_STRING: return "a string (use automl.choice)";
    }
    return "of an unknown type";
}

/* An automl.uniform/loguniform/int/choice table at idx, checked against pd, into r. */
static void check_range(aml_spec_loader *ld, const char *field, const aml_param_def *pd, int idx, aml_param_range *r)
{
    lua_State *L = ld->L;
    int line = aml_lua_line_of(L, idx);
    r->line = line;
    const char *kind = aml_spec_field(L, idx, "kind") == LUA_TSTRING ? lua_tostring(L, -1) : "";
    lua_pop(L, 1);
    if (!strcmp(kind, "choice")) {
        r->kind = AML_RANGE_CHOICE;
        if (aml_spec_field(L, idx, "values") != LUA_TTABLE)
            aml_spec_raise(ld, line, "%s: automl.choice lost its values", field);
        int v = lua_gettop(L), n = (int)lua_rawlen(L, v);
        r->choices = aml_xcalloc((size_t)n + 1, sizeof(char *));
        r->n_choices = n;
        for (int i = 1; i <= n; i++) {
            char what[400], nb[64];
            const char *str;
            snprintf(what, sizeof what, "%.300s: choice value %d", field, i);
            lua_rawgeti(L, v, i);
            double x = check_value(ld, line, what, pd, lua_gettop(L), &str);
            if (str && (!pd || pd->type == AML_PARAM_CHOICE || pd->type == AML_PARAM_STRING))
                r->choices[i - 1] = aml_xstrdup(str);
            else if (lua_type(L, -1) == LUA_TBOOLEAN)
                r->choices[i - 1] = aml_xstrdup(x != 0 ? "1" : "0");
            else
                r->choices[i - 1] = aml_xstrdup(aml_spec_numtext(L, -1, nb, sizeof nb));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        return;
    }
    int is_int = !strcmp(kind, "int");
    r->kind = is_int ? AML_RANGE_INT : !strcmp(kind, "loguniform") ? AML_RANGE_LOGUNIFORM : AML_RANGE_UNIFORM;
    aml_spec_field(L, idx, "lo");
    aml_spec_field(L, idx, "hi");
    aml_spec_field(L, idx, "log");
    r->lo = lua_tonumber(L, -3);
    r->hi = lua_tonumber(L, -2);
    r->log = r->kind == AML_RANGE_LOGUNIFORM || lua_toboolean(L, -1);
    char lb[64], hb[64], plb[64], phb[64];
    aml_spec_numtext(L, -3, lb, sizeof lb);
    aml_spec_numtext(L, -2, hb, sizeof hb);
    lua_pop(L, 3);
    if (pd && (is_int ? pd->type != AML_PARAM_INT : pd->type != AML_PARAM_FLOAT))
        aml_spec_raise(ld, line, "%s: automl.%s does not fit: '%s' is %s", field, kind, pd->name, type_hint(pd));
    if (!(r->lo < r->hi))
        aml_spec_raise(ld, line, "%s: automl.%s needs lo < hi, got (%s, %s)", field, kind, lb, hb);
    if (r->log && !(r->lo > 0))
        aml_spec_raise(ld, line, "%s: automl.%s%s needs lo > 0, got %s", field, kind, is_int ? " with log = true" : "", lb);
    if (pd && (r->lo < pd->lo || r->hi > pd->hi)) {
        snprintf(plb, sizeof plb, "%.14g", pd->lo);
        snprintf(phb, sizeof phb, "%.14g", pd->hi);
        aml_spec_raise(ld, line, "%s: range [%s, %s] must lie within [%s, %s]", field, lb, hb, plb, phb);
    }
}

/* Orders r[0..n) as the plugin declares its parameters (a handful: insertion sort). */
static void sort_by_declaration(aml_param_range *r, int n, const aml_plugin_descriptor *d)
{
    for (int i = 1; i < n; i++) {
        aml_param_range x = r[i];
        int j = i, xi = param_index(d, x.name);
        for (; j > 0 && param_index(d, r[j - 1].name) > xi; j--)
            r[j] = r[j - 1];
        r[j] = x;
    }
}

void aml_spec_read_params(aml_spec_loader *ld, aml_model_spec *m, const aml_plugin_descriptor *d, int p, long base,
                          const char *where)
{
    lua_State *L = ld->L;
    char field[300], valid[512];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, p)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            aml_spec_raise(ld, m->line, "%s: expected name = value pairs, got a value at [%s]", where,
                     luaL_tolstring(L, -1, NULL));
        n++;
    }
    m->ranges = aml_xcalloc((size_t)n + 1, sizeof *m->ranges);
    m->n_ranges = n;
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, p) && k < n) {
        lua_pop(L, 1);
        m->ranges[k].name = aml_xstrdup(lua_tostring(L, -1));
        m->ranges[k].line = aml_spec_key_line(ld, base, m->ranges[k].name);
        k++;
    }
    /* By name first, so that of two unknown names the same one is reported every time. */
    qsort(m->ranges, (size_t)n, sizeof *m->ranges, cmp_model);
    for (int i = 0; d && i < n; i++) {
        if (param_index(d, m->ranges[i].name) >= 0)
            continue;
        valid[0] = 0;
        for (int j = 0; j < d->n_params; j++)
            append_name(valid, sizeof valid, d->params[j].name);
        aml_spec_raise(ld, m->ranges[i].line, "%s.%s: unknown parameter '%s' (valid: %s)", where,
                 m->ranges[i].name, m->ranges[i].name, d->n_params ? valid : "none: it takes no parameters");
    }
    if (d)
        sort_by_declaration(m->ranges, n, d);
    for (int i = 0; i < n; i++) {
        aml_param_range *r = &m->ranges[i];
        const aml_param_def *pd = d ? &d->params[param_index(d, r->name)] : NULL;
        snprintf(field, sizeof field, "%s.%s", where, r->name);
        aml_spec_field(L, p, r->name);
        if (aml_lua_is(L, -1, AML_LUA_RANGE)) {
            check_range(ld, field, pd, lua_gettop(L), r);
        } else {
            const char *str;
            r->kind = AML_RANGE_FIXED;
            r->num = check_value(ld, r->line, field, pd, lua_gettop(L), &str);
            r->str = aml_xstrdup(str);
        }
        lua_pop(L, 1);
    }
}

void aml_spec_read_fixed_params(aml_spec_loader *ld, aml_model_spec *m, const aml_plugin_descriptor *d, int e,
                                const char *skip, long base, const char *where, const char *hint)
{
    lua_State *L = ld->L;
    lua_newtable(L);
    int params = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, e)) {
        int skipped = skip ? lua_type(L, -2) == LUA_TSTRING && !strcmp(lua_tostring(L, -2), skip)
                           : lua_type(L, -2) == LUA_TNUMBER && lua_tointeger(L, -2) == 1;
        if (skipped) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, params);
    }
    aml_spec_read_params(ld, m, d, params, base, where);
    for (int k = 0; k < m->n_ranges; k++)
        if (m->ranges[k].kind != AML_RANGE_FIXED)
            aml_spec_raise(ld, m->ranges[k].line, "%s.%s: expected a fixed value%s", where, m->ranges[k].name, hint);
    lua_pop(L, 1);
}

/* models = { "a", "b" } or { a = { params }, b = {} } (or both): list entries keep their order,
 * named ones follow sorted by name, so the search does not depend on Lua's table order. */
void aml_spec_read_models(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "models"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "models");
    int line = aml_spec_line_at(ld, base);
    char names[1024];
    if (ty == LUA_TNIL) { /* every model plugin found */
        lua_pop(L, 1);
        return;
    }
    if (ty != LUA_TTABLE)
        aml_spec_raise(ld, line, "models: expected a list of model names or a table name = { params }, got %s",
                 lua_typename(L, ty));
    lua_Integer n_list = (lua_Integer)lua_rawlen(L, v), k;
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING && !(aml_spec_getint(L, -1, &k) && k >= 1 && k <= n_list))
            aml_spec_raise(ld, line, "models: unexpected key [%s] (expected a list of names or name = { params })",
                     luaL_tolstring(L, -1, NULL));
        n++;
    }
    if (n == 0)
        aml_spec_raise(ld, line, "models: must name at least one model");
    o->models = aml_xcalloc((size_t)n, sizeof *o->models);
    o->n_models = n;
    for (lua_Integer i = 1; i <= n_list; i++) {
        aml_model_spec *m = &o->models[i - 1];
        if (lua_rawgeti(L, v, i) != LUA_TSTRING)
            aml_spec_raise(ld, line, "models[%lld]: expected a model name, got %s", (long long)i, luaL_typename(L, -1));
        m->name = aml_xstrdup(lua_tostring(L, -1));
        long off = aml_lua_scan(ld->src, ld->src_len, base, m->name, 0);
        m->line = off >= 0 ? aml_spec_line_at(ld, off) : line;
        lua_pop(L, 1);
    }
    int j = (int)n_list;
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && j < n) {
            o->models[j].name = aml_xstrdup(lua_tostring(L, -1));
            o->models[j].line = aml_spec_key_line(ld, base, o->models[j].name);
            j++;
        }
    }
    qsort(o->models + n_list, (size_t)(n - n_list), sizeof *o->models, cmp_model);
    for (int a = 0; a < n; a++) {
        aml_model_spec *m = &o->models[a];
        char field[300];
        if (a < n_list)
            snprintf(field, sizeof field, "models[%d]", a + 1);
        else
            snprintf(field, sizeof field, "models.%s", m->name);
        for (int b = 0; b < a; b++)
            if (!strcmp(o->models[b].name, m->name))
                aml_spec_raise(ld, m->line, "%s: model '%s' is named twice", field, m->name);
        const aml_plugin *pl = ld->reg ? aml_registry_find(ld->reg, AML_PLUGIN_MODEL, m->name) : NULL;
        if (ld->reg && !pl)
            aml_spec_raise(ld, m->line, "%s: unknown model '%s' (available: %s)", field, m->name,
                     model_names(ld->reg, names, sizeof names));
        if (a < n_list)
            continue;
        int pty = aml_spec_field(L, v, m->name);
        if (pty == LUA_TTABLE)
            aml_spec_read_params(ld, m, pl ? pl->desc : NULL, lua_gettop(L), aml_spec_key_off(ld, base, m->name), field);
        else if (pty != LUA_TBOOLEAN || !lua_toboolean(L, -1))
            aml_spec_raise(ld, m->line, "%s: expected a table of parameters { name = value }, got %s", field,
                     lua_typename(L, pty));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}


/* warm_start = { { model = "gbdt", learning_rate = 0.05 }, ... }: configurations the search tries
 * before its own, each a model name and fixed parameter values (the rest keep their defaults). */
void aml_spec_read_warm_start(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "warm_start"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "warm_start");
    int line = aml_spec_line_at(ld, base);
    char names[1024], field[64];
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_Integer n = ty == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, v) : 0;
    if (ty != LUA_TTABLE || n == 0)
        aml_spec_raise(ld, line, "warm_start: expected a list of { model = name, param = value, ... }");
    o->warm = aml_xcalloc((size_t)n, sizeof *o->warm);
    for (lua_Integer i = 1; i <= n; i++) {
        snprintf(field, sizeof field, "warm_start[%lld]", (long long)i);
        if (lua_rawgeti(L, v, i) != LUA_TTABLE)
            aml_spec_raise(ld, line, "%s: expected a table { model = name, ... }, got %s", field, luaL_typename(L, -1));
        int e = lua_gettop(L);
        if (aml_spec_field(L, e, "model") != LUA_TSTRING)
            aml_spec_raise(ld, line, "%s.model: expected a model name", field);
        aml_model_spec *m = &o->warm[o->n_warm++];
        m->name = aml_xstrdup(lua_tostring(L, -1));
        m->line = line;
        lua_pop(L, 1);
        const aml_plugin *pl = ld->reg ? aml_registry_find(ld->reg, AML_PLUGIN_MODEL, m->name) : NULL;
        if (ld->reg && !pl)
            aml_spec_raise(ld, line, "%s.model: unknown model '%s' (available: %s)", field, m->name,
                           model_names(ld->reg, names, sizeof names));
        aml_spec_read_fixed_params(ld, m, pl ? pl->desc : NULL, e, "model", base, field, ", not a range");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}
