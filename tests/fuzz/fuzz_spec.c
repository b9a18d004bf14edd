/* Fuzz target for the spec reader: any bytes as a spec's text, run in the sandbox with an
 * instruction limit and a memory cap, so that no input can loop or grow for ever; then the
 * spec's on_trial, if it has one, is called once. Paths are taken as written (no files here). */
#include "spec.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aml_ctx *c = aml_ctx_new();
    aml_spec_options opt = {.max_instructions = 1000000, .max_memory = (size_t)64 << 20, .trust_paths = 1};
    aml_search_spec s;
    if (aml_spec_load_buffer(c, "fuzz/spec.lua", (const char *)data, size, NULL, &opt, &s) == AML_OK) {
        aml_trial_summary t = {.id = 0, .model = "linear", .status = "ok", .score = 0.5, .seconds = 0.1,
                               .params_json = "{\"l2\":0.5}"};
        aml_spec_on_trial(c, &s, &t);
        aml_spec_free(&s);
    }
    aml_ctx_free(c);
    return 0;
}
