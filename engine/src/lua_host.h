/* Internals shared by lua_host.c (the spec's top-level fields) and lua_models.c (models and their
 * parameters): the loader state and the raise/locate/read helpers both use. */
#ifndef AML_LUA_HOST_H
#define AML_LUA_HOST_H

#include "spec.h"

#include "plugin_loader.h"
#include <lua.h>

/* What the protected spec reader needs. Everything malloc'd while it runs is stored at once in
 * *out, which aml_spec_load owns and frees on failure, so a Lua error mid-way leaks nothing. */
typedef struct aml_spec_loader {
    lua_State *L;
    const char *path;   /* the spec file as the user gave it: every message starts with it */
    const char *dir;    /* its directory, for relative data and plugin paths ("." when none) */
    const char *src;    /* the spec text, to find the line a field was written on */
    size_t src_len;
    aml_registry *reg;  /* may be NULL: models and parameters are then taken on trust */
    aml_ctx *c;
    aml_search_spec *out;
    long search_off;    /* where the automl.search call's line starts */
    int trust_paths;    /* aml_spec_options.trust_paths */
} aml_spec_loader;

/* Raises (lua_error) "FILE:LINE: message", or "FILE: message" when line is 0. Never returns. */
int aml_spec_raise(aml_spec_loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Line of a byte offset in the spec; offset of `key =` written inside the table whose text starts
 * at base (base itself when the key is not written out), and that offset's line. */
int aml_spec_line_at(const aml_spec_loader *ld, long off);
long aml_spec_key_off(const aml_spec_loader *ld, long base, const char *key);
int aml_spec_key_line(const aml_spec_loader *ld, long base, const char *key);

/* Pushes t[key] (no metamethods) and returns its type. */
int aml_spec_field(lua_State *L, int t, const char *key);
/* The number at idx as the user wrote it ("5", "0.25", "1e-06"), into buf. */
const char *aml_spec_numtext(lua_State *L, int idx, char *buf, size_t n);
/* 1 when idx holds an integral number (2 or 2.0; not 2.5 nor "2"); *v gets it. */
int aml_spec_getint(lua_State *L, int idx, lua_Integer *v);

/* The registry's plugin names of one kind, sorted: the list a user picks from after a typo. */
const char *aml_spec_plugin_names(const aml_registry *reg, aml_plugin_kind kind, char *buf, size_t n);
/* name = { param = value | automl.range, ... } at stack index p into m->ranges, checked against
 * the plugin d (NULL without registry); where names the table in messages ("models.gbdt"). */
void aml_spec_read_params(aml_spec_loader *ld, aml_model_spec *m, const aml_plugin_descriptor *d, int p, long base,
                          const char *where);
/* The table at stack index e without its key skip (a string key; NULL: the list entry [1], a
 * name) read by aml_spec_read_params as fixed values only: a range is refused with "expected a
 * fixed value" and hint. For warm_start entries and feature steps. */
void aml_spec_read_fixed_params(aml_spec_loader *ld, aml_model_spec *m, const aml_plugin_descriptor *d, int e,
                                const char *skip, long base, const char *where, const char *hint);
/* models = ...: lua_models.c. t is the spec table's stack index. */
void aml_spec_read_models(aml_spec_loader *ld, int t);
/* warm_start = { { model = "gbdt", learning_rate = 0.05 }, ... }: lua_models.c. */
void aml_spec_read_warm_start(aml_spec_loader *ld, int t);
/* features = ...: lua_features.c. */
void aml_spec_read_features(aml_spec_loader *ld, int t);

#endif
