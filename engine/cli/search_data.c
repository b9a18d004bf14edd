/* `automl search DATA`: what tells a spec from data on the command line, the spec a command line
 * describes (printed, saved as RUN_DIR/spec.lua), and the import of a CSV the search then reads. */
#include "cli.h"

#include "dataset.h"
#include "search.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 1 when path names a Lua spec rather than data: a .lua file, or one whose first 64 KiB say
 * automl.search (a spec saved under another name); HDF5, gzip and everything else are data. */
int cli_is_spec_file(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".lua"))
        return 1;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0; /* read nothing from a FIFO or a device here: the data readers say what they accept */
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char buf[65536 + 1];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    if ((got >= 8 && !memcmp(buf, "\x89HDF\r\n\x1a\n", 8)) || (got >= 2 && !memcmp(buf, "\x1f\x8b", 2)))
        return 0;
    return strlen(buf) == got && strstr(buf, "automl.search") != NULL;
}

int cli_is_hdf5(const char *path)
{
    unsigned char sig[8] = {0};
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    return got == 8 && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
}

/* s as a Lua string literal: quotes, backslashes and control bytes escaped (UTF-8 kept). */
static void lua_quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 32 || *p == 127)
            fprintf(f, "\\%03d", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The data file's name without directories and extensions (".csv.gz" whole), as a plain name
 * (letters, digits, '-', '_', '.'; any other byte '_'): the export name and the imported file's. */
static char *data_stem(const char *path)
{
    const char *b = strrchr(path, '/');
    char *s = aml_xstrdup(b ? b + 1 : path);
    size_t n = strlen(s);
    if (n > 3 && !strcmp(s + n - 3, ".gz"))
        s[n -= 3] = 0;
    char *dot = strrchr(s, '.');
    if (dot && dot != s)
        *dot = 0;
    for (char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            *p = '_';
    if (!*s || *s == '.') { /* "", ".", ".hidden": no directory name for the repository */
        free(s);
        s = aml_xstrdup("model");
    }
    return s;
}


/* The spec the command line describes, as Lua text (malloc'd): what --print-spec prints and the
 * run saves as spec.lua. Only what was asked is written; the rest are the spec's defaults. */
char *cli_spec_text(const cli_data_form *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char *stem = data_stem(d->data);
    fputs("-- automl search spec for ", f);
    for (const char *p = d->data; *p; p++) /* a comment: a newline in the name must not end it */
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
    fputs(". Save it to a file, edit it, and run it with\n"
          "-- `automl search FILE.lua`: the same search (data, task, metric, budget, seed, export).\n"
          "return automl.search {\n  data = automl.dataset { path = ", f);
    lua_quote(f, d->data);
    if (d->target) {
        fputs(", target = ", f);
        lua_quote(f, d->target);
    }
    fputs(" },\n  task = ", f);
    lua_quote(f, d->task ? d->task : "auto");
    fputs(",  -- auto | classification | regression\n  metric = ", f);
    lua_quote(f, d->metric ? d->metric : "auto");
    fputs(",  -- auto | accuracy, balanced_accuracy, log_loss, roc_auc, f1_macro | rmse, mae, r2\n", f);
    fputs("  budget = { ", f);
    if (d->trials > 0)
        fprintf(f, "trials = %lld%s", d->trials, d->budget > 0 ? ", " : "");
    if (d->budget > 0 || d->trials <= 0)
        fprintf(f, "seconds = %.17g", d->budget > 0 ? d->budget : 60);
    fputs(" },\n", f);
    if (d->seed >= 0)
        fprintf(f, "  seed = %lld,\n", d->seed);
    if (d->strategy) {
        fputs("  strategy = ", f);
        lua_quote(f, d->strategy);
        fputs(",\n", f);
    }
    if (d->threads > 0)
        fprintf(f, "  threads = %lld,\n", d->threads);
    if (d->parallel > 0)
        fprintf(f, "  parallel = %lld,\n", d->parallel);
    fputs("  -- models = { \"linear\", \"gbdt\" },  -- default: every model plugin found\n", f);
    fputs("  export = { to = ", f);
    lua_quote(f, d->repo ? d->repo : "models");
    fputs(", name = ", f);
    lua_quote(f, d->name ? d->name : stem);
    fputs(" },\n}\n", f);
    fclose(f);
    free(stem);
    return buf;
}

/* A spec whose data is not HDF5 (a CSV table): imported, with the spec's target and task, into
 * RUN_DIR/<stem>.h5, which the search then reads. */
int cli_import_search_data(aml_ctx *c, aml_search_spec *spec, FILE *human)
{
    if (cli_is_hdf5(spec->data_path))
        return AML_OK;
    aml_csv_options opt = {.target = spec->data_target, .task = spec->task};
    aml_dataset *d = NULL;
    char *stem = data_stem(spec->data_path);
    char *h5 = aml_xasprintf("%s/%s.h5", spec->out_dir, stem);
    free(stem);
    aml_status st = aml_csv_read(c, spec->data_path, &opt, &d);
    if (st == AML_OK)
        st = aml_hdf5_write(c, h5, d);
    if (st == AML_OK) {
        char classes[32] = "";
        if (d->task == AML_TASK_CLASSIFICATION)
            snprintf(classes, sizeof classes, " (%d classes)", d->n_classes);
        fprintf(human, "import: %s -> %s: %lld rows x %lld features, target %s, %s%s\n", spec->data_path, h5,
                (long long)d->n_rows, (long long)d->n_features, d->target_name, aml_dataset_task_name(d->task),
                classes);
        free(spec->data_path);
        spec->data_path = h5;
        h5 = NULL;
    }
    free(h5);
    aml_dataset_free(d);
    return st;
}
