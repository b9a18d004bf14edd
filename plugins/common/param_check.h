/* One check of a hyperparameter value against its aml_param_def, shared by the model and the
 * feature plugins' helpers (plugins/models/common, plugins/features/common), so that every plugin
 * refuses an out-of-range value with the same words. Compiled into each plugin. */
#ifndef AML_PLUGINS_PARAM_CHECK_H
#define AML_PLUGINS_PARAM_CHECK_H

#include <automl/plugin.h>

#include <stddef.h>

/* 1 when v is a valid value of d (a CHOICE index, 0/1 for a BOOL, an integer or a number in
 * [lo, hi]); else 0, with why set to "<name> must be ..., got ..." (truncated to n bytes). */
int aml_param_check(const aml_param_def *d, double v, char *why, size_t n);

#endif
