/* A hyperparameter value checked against its definition, with the one wording every plugin uses. */
#include "param_check.h"

#include <math.h>
#include <stdio.h>

int aml_param_check(const aml_param_def *d, double v, char *why, size_t n)
{
    int ok;
    switch (d->type) {
    case AML_PARAM_CHOICE: ok = v >= 0 && v < d->n_choices && v == floor(v); break;
    case AML_PARAM_BOOL: ok = v == 0 || v == 1; break;
    case AML_PARAM_INT: ok = v >= d->lo && v <= d->hi && v == floor(v); break;
    default: ok = v >= d->lo && v <= d->hi; break;
    }
    if (ok)
        return 1;
    if (d->type == AML_PARAM_CHOICE) {
        char list[256] = "";
        size_t len = 0;
        for (int q = 0; q < d->n_choices && len + 1 < sizeof list; q++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", q ? ", " : "", d->choices[q]);
        snprintf(why, n, "%s must be one of %s (got index %g)", d->name, list, v);
    } else if (d->type == AML_PARAM_BOOL) {
        snprintf(why, n, "%s must be 0 or 1, got %g", d->name, v);
    } else {
        snprintf(why, n, "%s = %g must be %s in [%g, %g]", d->name, v, d->type == AML_PARAM_INT ? "an integer" : "a number",
                 d->lo, d->hi);
    }
    return 0;
}
