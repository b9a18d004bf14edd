/* The warm start: a fixed list of strong configurations across families, cheapest first, tried
 * before any model-based sampling. */
#ifndef AML_PORTFOLIO_H
#define AML_PORTFOLIO_H

#include "sampler.h"

/* The portfolio entries whose family is in the space, in portfolio order, each with the spec's
 * fixed values applied on top and clipped into the spec's ranges, then the defaults of every
 * family the portfolio does not list. A family's defaults come once per pipeline it may choose
 * from (aml_space.n_pipelines), pipeline 0 first. *out is malloc'd (aml_config_free each, then
 * free). Entries that do not fit a plugin (a parameter it lacks, a value out of its range) are
 * left out. Returns the count. */
int aml_portfolio(const aml_space *sp, aml_config **out);

#endif
