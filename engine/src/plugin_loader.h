/* Finds plugins (install dir, build dir, AML_PLUGIN_PATH, paths a spec names), dlopens them with
 * RTLD_NOW, checks the descriptor (ABI major/minor, struct size, signature, vtable) and keeps a
 * registry by kind and name. */
#ifndef AML_PLUGIN_LOADER_H
#define AML_PLUGIN_LOADER_H

#include "core.h"

typedef struct aml_plugin {
    const aml_plugin_descriptor *desc;
    char *path;   /* the .so it came from */
    void *handle; /* dlopen handle */
} aml_plugin;

typedef struct aml_registry aml_registry;

/* A registry with the plugins found in the default places: the directory next to the running
 * binary (<exe>/../lib/automl/plugins), then each entry of AML_PLUGIN_PATH (':'-separated).
 * Refused plugins are kept in a list of messages (aml_registry_refusals). */
aml_registry *aml_registry_new(void);
void aml_registry_free(aml_registry *r);
/* Scans a directory for *.so and loads each; a plugin already registered under the same kind and
 * name is skipped (first found wins). */
void aml_registry_scan_dir(aml_registry *r, const char *dir);
void aml_registry_scan_defaults(aml_registry *r);
/* Loads one .so; on refusal returns AML_ERR_INPUT with "FILE: reason" in c. */
aml_status aml_registry_load_file(aml_registry *r, aml_ctx *c, const char *path);
const aml_plugin *aml_registry_find(const aml_registry *r, aml_plugin_kind kind, const char *name);
int aml_registry_count(const aml_registry *r);
const aml_plugin *aml_registry_at(const aml_registry *r, int i);
int aml_registry_refusal_count(const aml_registry *r);
const char *aml_registry_refusal(const aml_registry *r, int i);
const char *aml_plugin_kind_name(aml_plugin_kind k);
/* 1 when the plugin declares flag (AML_PLUGIN_RESUMABLE, AML_PLUGIN_NATIVE_MISSING) and its
 * descriptor is recent enough to have flags at all. */
int aml_plugin_has_flag(const aml_plugin_descriptor *d, uint32_t flag);
int aml_plugin_resumable(const aml_plugin_descriptor *d);

/* Checks a descriptor against this host; on mismatch writes the reason ("ABI major 2, host
 * has 1") to why and returns -1. */
int aml_descriptor_check(const aml_plugin_descriptor *d, char *why, size_t n);

#endif
