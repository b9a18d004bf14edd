/* Finds plugin shared objects, dlopens them with RTLD_NOW and admits only those whose descriptor
 * matches this host's ABI (major equal, minor not newer, same type sizes, a complete vtable). */
#include "plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct aml_registry {
    aml_plugin *plugins;
    int n, cap;
    char **refusals;
    int n_refusals;
};

const char *aml_plugin_kind_name(aml_plugin_kind k)
{
    switch (k) {
    case AML_PLUGIN_FEATURE: return "feature";
    case AML_PLUGIN_MODEL: return "model";
    case AML_PLUGIN_EXPORTER: return "exporter";
    }
    return "unknown";
}

int aml_plugin_has_flag(const aml_plugin_descriptor *d, uint32_t flag)
{
    return d->struct_size >= offsetof(aml_plugin_descriptor, flags) + sizeof(uint32_t) && (d->flags & flag);
}

int aml_plugin_resumable(const aml_plugin_descriptor *d) { return aml_plugin_has_flag(d, AML_PLUGIN_RESUMABLE); }

aml_registry *aml_registry_new(void) { return aml_xcalloc(1, sizeof(aml_registry)); }

void aml_registry_free(aml_registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->plugins[i].path);
        /* Handles stay open: model objects created by a plugin may still be alive in the
         * caller, and unloading code under them would be worse than a mapped library. */
    }
    for (int i = 0; i < r->n_refusals; i++)
        free(r->refusals[i]);
    free(r->plugins);
    free(r->refusals);
    free(r);
}

/* The descriptor size of ABI 1.0: every field up to and including the exporter vtable. */
#define DESCRIPTOR_V1_0_SIZE (offsetof(aml_plugin_descriptor, exporter) + sizeof(void *))

int aml_descriptor_check(const aml_plugin_descriptor *d, char *why, size_t n)
{
    if (!d) {
        snprintf(why, n, "entry point returned no descriptor");
        return -1;
    }
    if (d->abi_major != AML_PLUGIN_ABI_MAJOR) {
        snprintf(why, n, "plugin ABI major version %u, this automl speaks %u", d->abi_major,
                 AML_PLUGIN_ABI_MAJOR);
        return -1;
    }
    if (d->abi_minor > AML_PLUGIN_ABI_MINOR) {
        snprintf(why, n, "plugin needs ABI %u.%u, newer than this automl's %u.%u", d->abi_major,
                 d->abi_minor, AML_PLUGIN_ABI_MAJOR, AML_PLUGIN_ABI_MINOR);
        return -1;
    }
    if (d->signature != AML_PLUGIN_SIGNATURE) {
        snprintf(why, n, "built with different type sizes (signature 0x%08x, host 0x%08x)",
                 d->signature, (unsigned)AML_PLUGIN_SIGNATURE);
        return -1;
    }
    if (d->struct_size < DESCRIPTOR_V1_0_SIZE) {
        snprintf(why, n, "descriptor is %u bytes, ABI %u.0 needs at least %zu", d->struct_size,
                 AML_PLUGIN_ABI_MAJOR, (size_t)DESCRIPTOR_V1_0_SIZE);
        return -1;
    }
    if (!d->name || !d->name[0] || !d->version) {
        snprintf(why, n, "descriptor has no name or version");
        return -1;
    }
    if (d->n_params < 0 || (d->n_params > 0 && !d->params)) {
        snprintf(why, n, "descriptor declares %d parameters but no table", d->n_params);
        return -1;
    }
    switch (d->kind) {
    case AML_PLUGIN_MODEL: {
        const aml_model_vtable *v = d->model;
        if (!v || v->version < 1 || !v->create || !v->fit || !v->predict || !v->save || !v->load ||
            !v->free) {
            snprintf(why, n, "model plugin '%s' has an incomplete vtable", d->name);
            return -1;
        }
        break;
    }
    case AML_PLUGIN_FEATURE: {
        const aml_feature_vtable *v = d->feature;
        if (!v || v->version < 1 || !v->create || !v->fit || !v->transform || !v->output_cols ||
            !v->save || !v->load || !v->free) {
            snprintf(why, n, "feature plugin '%s' has an incomplete vtable", d->name);
            return -1;
        }
        break;
    }
    case AML_PLUGIN_EXPORTER:
        if (!d->exporter || d->exporter->version < 1 || !d->exporter->export_artifact) {
            snprintf(why, n, "exporter plugin '%s' has an incomplete vtable", d->name);
            return -1;
        }
        break;
    default:
        snprintf(why, n, "unknown plugin kind %d", (int)d->kind);
        return -1;
    }
    for (int i = 0; i < d->n_params; i++) {
        const aml_param_def *p = &d->params[i];
        if (!p->name || (p->type == AML_PARAM_CHOICE && (p->n_choices < 1 || !p->choices))) {
            snprintf(why, n, "parameter %d of '%s' is malformed", i, d->name);
            return -1;
        }
    }
    return 0;
}

static void add_refusal(aml_registry *r, const char *msg)
{
    r->refusals = aml_xrealloc(r->refusals, sizeof(char *) * (size_t)(r->n_refusals + 1));
    r->refusals[r->n_refusals++] = aml_xstrdup(msg);
}

aml_status aml_registry_load_file(aml_registry *r, aml_ctx *c, const char *path)
{
    char why[512];
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        /* dlerror repeats the path; keep only the reason after it. */
        const char *p = e ? strstr(e, path) : NULL;
        if (p && p[strlen(path)] == ':')
            e = p + strlen(path) + 1;
        while (e && *e == ' ')
            e++;
        snprintf(why, sizeof why, "cannot load: %s", e ? e : "unknown dlopen error");
        goto refuse;
    }
    typedef const aml_plugin_descriptor *(*entry_fn)(void);
    entry_fn entry;
    *(void **)&entry = dlsym(h, AML_PLUGIN_ENTRY_NAME);
    if (!entry) {
        snprintf(why, sizeof why, "not an automl plugin: no symbol '%s'", AML_PLUGIN_ENTRY_NAME);
        dlclose(h);
        goto refuse;
    }
    const aml_plugin_descriptor *d = entry();
    if (aml_descriptor_check(d, why, sizeof why) != 0) {
        dlclose(h);
        goto refuse;
    }
    if (aml_registry_find(r, d->kind, d->name)) {
        /* First found wins: the build/install dir comes before AML_PLUGIN_PATH. */
        dlclose(h);
        return AML_OK;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->plugins = aml_xrealloc(r->plugins, sizeof(aml_plugin) * (size_t)r->cap);
    }
    r->plugins[r->n++] = (aml_plugin){.desc = d, .path = aml_xstrdup(path), .handle = h};
    return AML_OK;
refuse: {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: %s", path, why);
    add_refusal(r, msg);
    return aml_fail(c, AML_ERR_INPUT, "%s", msg);
}
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void aml_registry_scan_dir(aml_registry *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".so")) {
            names = aml_xrealloc(names, sizeof(char *) * (size_t)(n + 1));
            names[n++] = aml_xasprintf("%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    /* Sorted, so that the registry's order and `automl plugins` do not depend on the file system. */
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    for (int i = 0; i < n; i++) {
        aml_registry_load_file(r, NULL, names[i]);
        free(names[i]);
    }
    free(names);
}

void aml_registry_scan_defaults(aml_registry *r)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *dir = dirname(exe);
        char *plugins = aml_xasprintf("%s/../%s", dir, AML_PLUGIN_SUBDIR);
        aml_registry_scan_dir(r, plugins);
        free(plugins);
    }
    const char *env = getenv("AML_PLUGIN_PATH");
    if (env && *env) {
        char *copy = aml_xstrdup(env), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
            struct stat st;
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                aml_registry_load_file(r, NULL, p);
            else
                aml_registry_scan_dir(r, p);
        }
        free(copy);
    }
}

const aml_plugin *aml_registry_find(const aml_registry *r, aml_plugin_kind kind, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (r->plugins[i].desc->kind == kind && !strcmp(r->plugins[i].desc->name, name))
            return &r->plugins[i];
    return NULL;
}

int aml_registry_count(const aml_registry *r) { return r->n; }
const aml_plugin *aml_registry_at(const aml_registry *r, int i) { return &r->plugins[i]; }
int aml_registry_refusal_count(const aml_registry *r) { return r->n_refusals; }
const char *aml_registry_refusal(const aml_registry *r, int i) { return r->refusals[i]; }
