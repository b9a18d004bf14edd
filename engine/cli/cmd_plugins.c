/* automl plugins: every plugin found, and every file refused with its reason. */
#include "cli.h"

#include "plugin_loader.h"

#include <stdio.h>
#include <string.h>

int cmd_plugins(int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: automl plugins [--params]\n\n"
                   "Lists every plugin found in <automl binary>/../lib/automl/plugins and in the\n"
                   "directories or files of AML_PLUGIN_PATH (':'-separated): kind, name, version,\n"
                   "ABI version and path; then every file that was refused, with the reason.\n\n"
                   "  --params   also list each plugin's hyperparameters: type, range, default\n");
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--params")) {
            verbose = 1;
            continue;
        }
        cli_error("plugins: unknown option '%s' (see automl plugins --help)", argv[i]);
        return EXIT_USAGE;
    }
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    printf("%-9s %-14s %-8s %-5s %s\n", "kind", "name", "version", "abi", "path");
    for (int i = 0; i < aml_registry_count(reg); i++) {
        const aml_plugin *p = aml_registry_at(reg, i);
        const aml_plugin_descriptor *d = p->desc;
        printf("%-9s %-14s %-8s %u.%-3u %s\n", aml_plugin_kind_name(d->kind), d->name, d->version,
               d->abi_major, d->abi_minor, p->path);
        if (!verbose)
            continue;
        if (d->summary)
            printf("          %s\n", d->summary);
        for (int k = 0; k < d->n_params; k++) {
            const aml_param_def *q = &d->params[k];
            static const char *types[] = {"", "float", "int", "choice", "bool", "string"};
            printf("          %-16s %-6s ", q->name, types[q->type]);
            if (q->type == AML_PARAM_CHOICE) {
                for (int j = 0; j < q->n_choices; j++)
                    printf("%s%s", j ? "|" : "", q->choices[j]);
                printf("  default %s", q->choices[(int)q->def]);
            } else if (q->type == AML_PARAM_STRING) {
                printf("default \"%s\"", q->def_str ? q->def_str : "");
            } else {
                printf("[%g, %g]%s  default %g", q->lo, q->hi, q->log_scale ? " log" : "", q->def);
            }
            printf("%s%s\n", q->help ? "  - " : "", q->help ? q->help : "");
        }
    }
    for (int i = 0; i < aml_registry_refusal_count(reg); i++)
        printf("refused   %s\n", aml_registry_refusal(reg, i));
    aml_registry_free(reg);
    return EXIT_OK;
}
