/* Fuzz target hdf5: the bytes are an HDF5 file, read by the engine's reader (aml_hdf5_read, what
 * `automl search/train/info` and specs' data go through) from a file, as the CLI reads it. A
 * refused file must get a message naming it. */
#include "dataset.h"
#include "fuzz_util.h"

#include <automl/automl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h5 = fuzz_write("input.h5", data, size);
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    if (aml_hdf5_read(c, h5, &d) != AML_OK)
        fuzz_check_message("aml_hdf5_read", aml_errmsg(c), h5);
    else
        fuzz_note("fuzz: read %s", h5);
    aml_dataset_free(d);
    aml_ctx_free(c);
    free(h5);
    return 0;
}
