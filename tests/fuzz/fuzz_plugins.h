/* The plugin registry of the artifact and blob harnesses (header only: each harness is one
 * executable): the build's plugins first, then the usual places, scanned once per process. */
#ifndef AML_FUZZ_PLUGINS_H
#define AML_FUZZ_PLUGINS_H

#include "plugin_loader.h"

static aml_registry *fuzz_registry(void)
{
    static aml_registry *reg;
    if (!reg) {
        reg = aml_registry_new();
#ifdef AML_PLUGIN_BUILD_DIR
        aml_registry_scan_dir(reg, AML_PLUGIN_BUILD_DIR);
#endif
        aml_registry_scan_defaults(reg);
    }
    return reg;
}

#endif
