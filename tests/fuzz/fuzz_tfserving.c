/* Fuzz target tfserving: the bytes are the body of POST /v1/models/shades:predict, a TF Serving
 * REST request (instances as lists or objects, or columns), handled by amld_tfserving_handle
 * against a real model (serve_fixture.h), without a socket. */
#include "serve_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fixture_request(amld_tfserving_handle, "POST", "/v1/models/shades:predict", data, size);
    return 0;
}
