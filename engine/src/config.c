/* Model configurations: defaults, sampling from a search space, text overrides, and the JSON
 * form written to the journal and the manifest. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_params(const aml_plugin *p) { return p->desc->n_params; }

static void alloc_config(aml_config *cfg, const aml_plugin *p)
{
    cfg->plugin = p;
    cfg->n_steps = 0;
    cfg->pipeline = 0;
    memset(cfg->step_params, 0, sizeof cfg->step_params);
    cfg->num = aml_xcalloc((size_t)n_params(p) + 1, sizeof(double));
    cfg->str = aml_xcalloc((size_t)n_params(p) + 1, sizeof(char *));
}

static void set_str(aml_config *cfg, int i, const char *s)
{
    free(cfg->str[i]);
    cfg->str[i] = aml_xstrdup(s);
}

void aml_config_defaults(aml_config *cfg, const aml_plugin *p)
{
    alloc_config(cfg, p);
    for (int i = 0; i < n_params(p); i++) {
        const aml_param_def *d = &p->desc->params[i];
        cfg->num[i] = d->def;
        if (d->type == AML_PARAM_CHOICE)
            set_str(cfg, i, d->choices[(int)d->def]);
        else if (d->type == AML_PARAM_STRING)
            set_str(cfg, i, d->def_str ? d->def_str : "");
    }
}

static int param_index(const aml_plugin *p, const char *name)
{
    for (int i = 0; i < n_params(p); i++)
        if (!strcmp(p->desc->params[i].name, name))
            return i;
    return -1;
}

static int choice_index(const aml_param_def *d, const char *s)
{
    for (int k = 0; k < d->n_choices; k++)
        if (!strcmp(d->choices[k], s))
            return k;
    return -1;
}

/* Puts text value s into parameter i, converting it to the parameter's type. */
static int assign_text(aml_config *cfg, int i, const char *s)
{
    const aml_param_def *d = &cfg->plugin->desc->params[i];
    if (d->type == AML_PARAM_CHOICE) {
        int k = choice_index(d, s);
        if (k < 0)
            return -1;
        cfg->num[i] = k;
        set_str(cfg, i, d->choices[k]);
        return 0;
    }
    if (d->type == AML_PARAM_STRING) {
        set_str(cfg, i, s);
        return 0;
    }
    if (d->type == AML_PARAM_BOOL && (!strcmp(s, "true") || !strcmp(s, "false"))) {
        cfg->num[i] = !strcmp(s, "true");
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -1;
    if ((d->type == AML_PARAM_INT || d->type == AML_PARAM_BOOL) && v != floor(v))
        return -1;
    if (!aml_param_allows(d, v))
        return -1;
    cfg->num[i] = v;
    return 0;
}

int aml_param_allows(const aml_param_def *d, double v) { return (v >= d->lo && v <= d->hi) || v == d->def; }

static double draw(aml_rng *rng, double lo, double hi, int log_scale, int integer)
{
    double u = aml_rng_uniform(rng);
    if (integer) {
        if (log_scale && lo >= 1) {
            double v = floor(exp(log(lo) + u * (log(hi + 1) - log(lo))));
            return fmin(fmax(v, lo), hi);
        }
        return lo + (double)aml_rng_below(rng, (uint64_t)(hi - lo + 1));
    }
    if (log_scale && lo > 0)
        return exp(log(lo) + u * (log(hi) - log(lo)));
    return lo + u * (hi - lo);
}

static const aml_param_range *spec_range(const aml_model_spec *ms, const char *name)
{
    if (!ms)
        return NULL;
    for (int i = 0; i < ms->n_ranges; i++)
        if (!strcmp(ms->ranges[i].name, name))
            return &ms->ranges[i];
    return NULL;
}

static void apply_fixed(aml_config *cfg, int i, const aml_param_range *r)
{
    if (r->str)
        assign_text(cfg, i, r->str);
    else
        cfg->num[i] = r->num;
}

void aml_config_base(aml_config *cfg, const aml_plugin *p, const aml_model_spec *ms)
{
    aml_config_defaults(cfg, p);
    for (int i = 0; i < n_params(p); i++) {
        const aml_param_range *r = spec_range(ms, p->desc->params[i].name);
        if (r && r->kind == AML_RANGE_FIXED)
            apply_fixed(cfg, i, r);
    }
}

void aml_config_sample(aml_config *cfg, const aml_plugin *p, const aml_model_spec *ms, aml_rng *rng)
{
    aml_config_defaults(cfg, p);
    for (int i = 0; i < n_params(p); i++) {
        const aml_param_def *d = &p->desc->params[i];
        const aml_param_range *r = spec_range(ms, d->name);
        int integer = d->type == AML_PARAM_INT || d->type == AML_PARAM_BOOL;
        if (r && r->kind == AML_RANGE_FIXED) {
            apply_fixed(cfg, i, r);
        } else if (r && r->kind == AML_RANGE_CHOICE) {
            assign_text(cfg, i, r->choices[aml_rng_below(rng, (uint64_t)r->n_choices)]);
        } else if (r && r->kind != AML_RANGE_DEFAULT) {
            int log_scale = r->kind == AML_RANGE_LOGUNIFORM || r->log;
            cfg->num[i] = draw(rng, r->lo, r->hi, log_scale, integer || r->kind == AML_RANGE_INT);
        } else if (d->type == AML_PARAM_CHOICE) {
            int k = (int)aml_rng_below(rng, (uint64_t)d->n_choices);
            cfg->num[i] = k;
            set_str(cfg, i, d->choices[k]);
        } else if (d->type != AML_PARAM_STRING && d->hi > d->lo) {
            cfg->num[i] = draw(rng, d->lo, d->hi, d->log_scale, integer);
        }
    }
}

aml_status aml_config_set(aml_ctx *c, aml_config *cfg, const char *name, const char *value)
{
    const aml_plugin_descriptor *desc = cfg->plugin->desc;
    int i = param_index(cfg->plugin, name);
    if (i < 0) {
        char names[512] = "";
        for (int k = 0; k < desc->n_params; k++) {
            if (k)
                strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, desc->params[k].name, sizeof names - strlen(names) - 1);
        }
        return aml_fail(c, AML_ERR_INPUT, "%s: unknown parameter '%s' (expected one of: %s)",
                        desc->name, name, names);
    }
    if (assign_text(cfg, i, value) == 0)
        return AML_OK;
    const aml_param_def *d = &desc->params[i];
    switch (d->type) {
    case AML_PARAM_CHOICE: {
        char choices[512] = "";
        for (int k = 0; k < d->n_choices; k++) {
            if (k)
                strncat(choices, ", ", sizeof choices - strlen(choices) - 1);
            strncat(choices, d->choices[k], sizeof choices - strlen(choices) - 1);
        }
        return aml_fail(c, AML_ERR_INPUT, "%s.%s: expected one of %s, got '%s'", desc->name, name,
                        choices, value);
    }
    case AML_PARAM_INT:
        return aml_fail(c, AML_ERR_INPUT, "%s.%s: expected an integer in [%g, %g], got '%s'",
                        desc->name, name, d->lo, d->hi, value);
    case AML_PARAM_BOOL:
        return aml_fail(c, AML_ERR_INPUT, "%s.%s: expected true or false, got '%s'", desc->name,
                        name, value);
    default:
        return aml_fail(c, AML_ERR_INPUT, "%s.%s: expected a number in [%g, %g], got '%s'",
                        desc->name, name, d->lo, d->hi, value);
    }
}

aml_status aml_config_set_list(aml_ctx *c, aml_config *cfg, const char *list)
{
    char *copy = aml_xstrdup(list), *save = NULL;
    aml_status st = AML_OK;
    for (char *kv = strtok_r(copy, ",", &save); kv && st == AML_OK; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            st = aml_fail(c, AML_ERR_INPUT, "--set: expected name=value, got '%s'", kv);
            break;
        }
        *eq = 0;
        st = aml_config_set(c, cfg, kv, eq + 1);
    }
    free(copy);
    return st;
}

aml_params aml_config_params(const aml_config *cfg)
{
    return (aml_params){.num = cfg->num, .str = (const char *const *)cfg->str};
}

cJSON *aml_json_exact(double v)
{
    char num[40];
    snprintf(num, sizeof num, "%.17g", v);
    return cJSON_CreateRaw(num);
}

cJSON *aml_config_to_json(const aml_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n_params(cfg->plugin); i++) {
        const aml_param_def *d = &cfg->plugin->desc->params[i];
        if (d->type == AML_PARAM_CHOICE || d->type == AML_PARAM_STRING)
            cJSON_AddStringToObject(o, d->name, cfg->str[i]);
        else if (d->type == AML_PARAM_BOOL)
            cJSON_AddBoolToObject(o, d->name, cfg->num[i] != 0);
        else if (d->type == AML_PARAM_INT)
            cJSON_AddNumberToObject(o, d->name, cfg->num[i]);
        else /* the journal and manifests must give back the exact double */
            cJSON_AddItemToObject(o, d->name, aml_json_exact(cfg->num[i]));
    }
    return o;
}

aml_status aml_config_from_json(aml_ctx *c, aml_config *cfg, const aml_plugin *p, const cJSON *obj)
{
    aml_config_defaults(cfg, p);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        int i = param_index(p, item->string);
        if (i < 0) {
            aml_config_free(cfg);
            return aml_fail(c, AML_ERR_FORMAT, "unknown parameter '%s' for model %s", item->string,
                            p->desc->name);
        }
        const aml_param_def *d = &p->desc->params[i];
        if (cJSON_IsString(item) && (d->type == AML_PARAM_CHOICE || d->type == AML_PARAM_STRING)) {
            if (assign_text(cfg, i, item->valuestring) != 0) {
                aml_config_free(cfg);
                return aml_fail(c, AML_ERR_FORMAT, "%s.%s: invalid value '%s'", p->desc->name,
                                item->string, item->valuestring);
            }
        } else if (cJSON_IsBool(item)) {
            cfg->num[i] = cJSON_IsTrue(item);
        } else if (cJSON_IsNumber(item)) {
            cfg->num[i] = item->valuedouble;
        } else {
            aml_config_free(cfg);
            return aml_fail(c, AML_ERR_FORMAT, "%s.%s: wrong JSON type", p->desc->name, item->string);
        }
    }
    return AML_OK;
}

void aml_config_copy(aml_config *dst, const aml_config *src)
{
    alloc_config(dst, src->plugin);
    dst->n_steps = src->n_steps;
    memcpy(dst->steps, src->steps, sizeof dst->steps);
    memcpy(dst->step_params, src->step_params, sizeof dst->step_params);
    dst->pipeline = src->pipeline;
    for (int i = 0; i < n_params(src->plugin); i++) {
        dst->num[i] = src->num[i];
        dst->str[i] = aml_xstrdup(src->str[i]);
    }
}

void aml_config_free(aml_config *cfg)
{
    if (!cfg || !cfg->plugin)
        return;
    for (int i = 0; i < n_params(cfg->plugin); i++)
        free(cfg->str[i]);
    free(cfg->str);
    free(cfg->num);
    memset(cfg, 0, sizeof *cfg);
}
