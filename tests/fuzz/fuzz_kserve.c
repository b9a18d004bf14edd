/* Fuzz target kserve: the bytes are the body of POST /v2/models/shades/infer, a KServe v2
 * inference request, handled by amld_kserve_handle (request parsing, amld_decode_kserve_inputs,
 * the prediction and the reply) against a real model (serve_fixture.h), without a socket. */
#include "serve_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fixture_request(amld_kserve_handle, "POST", "/v2/models/shades/infer", data, size);
    return 0;
}
