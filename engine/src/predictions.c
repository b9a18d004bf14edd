/* Writing predictions as CSV (to a file atomically, or to stdout for "-"). */
#include "predictions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aml_argmax(const double *p, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

aml_status aml_predictions_write_csv(aml_ctx *c, const char *path, const aml_dataset *schema,
                                     int64_t n, const double *pred, int proba)
{
    int classify = schema->task == AML_TASK_CLASSIFICATION;
    if (classify && (schema->n_classes < 1 || !schema->class_names))
        return aml_fail(c, AML_ERR_INPUT, "%s: the model has no class labels to write", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int k_out = classify ? schema->n_classes : 1;
    fputs("prediction", f);
    if (classify && proba)
        for (int k = 0; k < k_out; k++)
            fprintf(f, ",p_%s", schema->class_names[k]);
    fputc('\n', f);
    for (int64_t i = 0; i < n; i++) {
        const double *p = pred + i * k_out;
        if (classify)
            fputs(schema->class_names[aml_argmax(p, k_out)], f);
        else
            fprintf(f, "%.17g", p[0]);
        if (classify && proba)
            for (int k = 0; k < k_out; k++)
                fprintf(f, ",%.17g", p[k]);
        fputc('\n', f);
    }
    fclose(f);
    aml_status st = AML_OK;
    if (!strcmp(path, "-")) {
        if (fwrite(buf, 1, len, stdout) != len)
            st = aml_fail(c, AML_ERR_IO, "stdout: write failed");
    } else {
        st = aml_write_file_atomic(c, path, buf, len);
    }
    free(buf);
    return st;
}
