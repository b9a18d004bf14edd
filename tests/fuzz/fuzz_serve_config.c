/* Fuzz target serve_config: the bytes are automld's models config (automld.json or --config),
 * read by amld_config_load as the daemon does at start and on every change. A refused file must
 * get a message naming it. */
#include "fuzz_util.h"
#include "serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write("automld.json", data, size);
    aml_ctx *c = aml_ctx_new();
    amld_config cfg = {0};
    if (amld_config_load(c, path, 1, &cfg) != AML_OK)
        fuzz_check_message("amld_config_load", aml_errmsg(c), path);
    else {
        fuzz_note("fuzz: loaded %s", path);
        for (int i = 0; i < cfg.n_models; i++)
            amld_config_policy(&cfg, cfg.models[i].model);
    }
    amld_config_free(&cfg);
    aml_ctx_free(c);
    free(path);
    return 0;
}
