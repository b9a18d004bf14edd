/* features = ...: the feature pipelines a spec gives the model families.
 *
 *   features = "auto"                                   -- the default: pipeline.h picks per family
 *   features = { "impute", "scale" }                    -- the same steps for every family
 *   features = { linear = { "impute", { "onehot", max_levels = 16 }, "scale" },
 *                knn = automl.choice{ { "impute", "scale" }, { "impute", "pca" } },
 *                default = "auto" }                     -- per family; the rest get `default`
 *
 * A step is a feature plugin's name, or { name, param = value, ... } with fixed values. A pipeline
 * is "auto" or a list of steps ({} is no steps). automl.choice over pipelines makes the pipeline a
 * hyperparameter of the family, sampled and tuned by the search like the family's own. */
#include "config.h"
#include "lua_automl.h"
#include "lua_host.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One step at stack index v into *m. */
static void read_step(aml_spec_loader *ld, int v, int line, const char *field, aml_model_spec *m)
{
    lua_State *L = ld->L;
    char names[1024];
    int ty = lua_type(L, v), name_idx = v;
    if (ty == LUA_TTABLE) {
        lua_rawgeti(L, v, 1);
        name_idx = lua_gettop(L);
    }
    if (lua_type(L, name_idx) != LUA_TSTRING)
        aml_spec_raise(ld, line, "%s: expected a feature plugin name or { name, param = value, ... }, got %s", field,
                       ty == LUA_TTABLE ? "a table without a name first" : lua_typename(L, ty));
    m->name = aml_xstrdup(lua_tostring(L, name_idx));
    m->line = line;
    if (ty == LUA_TTABLE)
        lua_pop(L, 1);
    const aml_plugin *pl = ld->reg ? aml_registry_find(ld->reg, AML_PLUGIN_FEATURE, m->name) : NULL;
    if (ld->reg && !pl)
        aml_spec_raise(ld, line, "%s: unknown feature plugin '%s' (available: %s)", field, m->name,
                       aml_spec_plugin_names(ld->reg, AML_PLUGIN_FEATURE, names, sizeof names));
    if (ty != LUA_TTABLE)
        return;
    aml_spec_read_fixed_params(ld, m, pl ? pl->desc : NULL, v, NULL, ld->search_off, field,
                               " (search over whole pipelines with automl.choice{ {...}, {...} })");
}

/* One pipeline at stack index v: "auto" or a list of steps. */
static void read_pipeline(aml_spec_loader *ld, int v, int line, const char *field, aml_pipeline_spec *p)
{
    lua_State *L = ld->L;
    int ty = lua_type(L, v);
    if (ty == LUA_TSTRING && !strcmp(lua_tostring(L, v), "auto")) {
        p->automatic = 1;
        return;
    }
    if (ty != LUA_TTABLE || aml_lua_is(L, v, AML_LUA_RANGE))
        aml_spec_raise(ld, line, "%s: expected \"auto\" or a list of feature steps, got %s", field,
                       ty == LUA_TSTRING ? lua_pushfstring(L, "'%s'", lua_tostring(L, v)) : luaL_typename(L, v));
    lua_Integer n = (lua_Integer)lua_rawlen(L, v);
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_pop(L, 1);
        lua_Integer k;
        if (!aml_spec_getint(L, -1, &k) || k < 1 || k > n)
            aml_spec_raise(ld, line, "%s: expected a list of feature steps, got the key [%s]", field,
                           luaL_tolstring(L, -1, NULL));
    }
    if (n > AML_MAX_STEPS)
        aml_spec_raise(ld, line, "%s: at most %d steps, got %lld", field, AML_MAX_STEPS, (long long)n);
    p->steps = aml_xcalloc((size_t)n + 1, sizeof *p->steps);
    char step_field[400];
    for (lua_Integer i = 1; i <= n; i++) {
        snprintf(step_field, sizeof step_field, "%.300s[%lld]", field, (long long)i);
        lua_rawgeti(L, v, i);
        p->n_steps++;
        read_step(ld, lua_gettop(L), line, step_field, &p->steps[i - 1]);
        lua_pop(L, 1);
    }
}

/* A family's entry at stack index v: one pipeline, or automl.choice over pipelines. */
static void read_entry(aml_spec_loader *ld, int v, int line, const char *field, aml_features_spec *e)
{
    lua_State *L = ld->L;
    e->line = line;
    if (!aml_lua_is(L, v, AML_LUA_RANGE)) {
        e->choices = aml_xcalloc(1, sizeof *e->choices);
        e->n_choices = 1;
        read_pipeline(ld, v, line, field, &e->choices[0]);
        return;
    }
    int cline = aml_lua_line_of(L, v);
    line = cline ? cline : line;
    const char *kind = aml_spec_field(L, v, "kind") == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(kind, "choice") != 0)
        aml_spec_raise(ld, line, "%s: automl.%s cannot choose a pipeline (use automl.choice{ {...}, {...} })", field,
                       kind);
    lua_pop(L, 1);
    aml_spec_field(L, v, "values");
    int vals = lua_gettop(L), n = (int)lua_rawlen(L, vals);
    e->choices = aml_xcalloc((size_t)n + 1, sizeof *e->choices);
    char choice_field[400];
    for (int i = 1; i <= n; i++) {
        snprintf(choice_field, sizeof choice_field, "%.300s: choice %d", field, i);
        lua_rawgeti(L, vals, i);
        e->n_choices++;
        read_pipeline(ld, lua_gettop(L), line, choice_field, &e->choices[i - 1]);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* A list of steps (or {}), as opposed to a table model = pipeline. */
static int is_list(lua_State *L, int v)
{
    if (lua_rawlen(L, v) > 0)
        return 1;
    lua_pushnil(L);
    if (lua_next(L, v) == 0)
        return 1; /* {}: no steps */
    lua_pop(L, 2);
    return 0;
}

void aml_spec_read_features(aml_spec_loader *ld, int t)
{
    lua_State *L = ld->L;
    aml_search_spec *o = ld->out;
    int ty = aml_spec_field(L, t, "features"), v = lua_gettop(L);
    long base = aml_spec_key_off(ld, ld->search_off, "features");
    int line = aml_spec_line_at(ld, base);
    char field[300], names[1024];
    if (ty == LUA_TNIL || (ty == LUA_TSTRING && !strcmp(lua_tostring(L, v), "auto"))) {
        lua_pop(L, 1);
        return;
    }
    if (ty != LUA_TTABLE)
        aml_spec_raise(ld, line, "features: expected \"auto\", a list of feature steps, automl.choice over "
                       "pipelines, or a table model = pipeline, got %s",
                       ty == LUA_TSTRING ? lua_pushfstring(L, "'%s'", lua_tostring(L, v)) : lua_typename(L, ty));
    if (aml_lua_is(L, v, AML_LUA_RANGE) || is_list(L, v)) { /* one entry for every family */
        o->features = aml_xcalloc(1, sizeof *o->features);
        o->n_features = 1;
        read_entry(ld, v, line, "features", &o->features[0]);
        lua_pop(L, 1);
        return;
    }
    /* model = pipeline, ...: sorted by name so the result does not depend on Lua's table order */
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            aml_spec_raise(ld, line, "features: unexpected key [%s] (expected model = pipeline or default = pipeline)",
                           luaL_tolstring(L, -1, NULL));
        n++;
    }
    /* the key list lives in Lua's heap: a spec error raised below must not leak it */
    const char **keys = lua_newuserdatauv(L, sizeof *keys * ((size_t)n + 1), 0);
    int keys_idx = lua_gettop(L);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, v)) {
        lua_pop(L, 1);
        keys[k++] = lua_tostring(L, -1); /* stays alive: the table holds its keys */
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *x = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = x;
        }
    o->features = aml_xcalloc((size_t)n, sizeof *o->features);
    for (int i = 0; i < n; i++) {
        aml_features_spec *e = &o->features[o->n_features++];
        int key_line = aml_spec_key_line(ld, base, keys[i]);
        snprintf(field, sizeof field, "features.%.200s", keys[i]);
        if (strcmp(keys[i], "default") != 0) {
            e->model = aml_xstrdup(keys[i]);
            if (ld->reg && !aml_registry_find(ld->reg, AML_PLUGIN_MODEL, keys[i]))
                aml_spec_raise(ld, key_line, "%s: unknown model '%s' (available: %s, or default)", field, keys[i],
                               aml_spec_plugin_names(ld->reg, AML_PLUGIN_MODEL, names, sizeof names));
        }
        aml_spec_field(L, v, keys[i]);
        read_entry(ld, lua_gettop(L), key_line, field, e);
        lua_pop(L, 1);
    }
    lua_remove(L, keys_idx);
    lua_pop(L, 1);
}
