/* Fuzz target csv: the bytes are a CSV file, imported as `automl import DATA.csv DATA.h5` does
 * (aml_csv_read with the default options, then aml_hdf5_write). Checked besides the sanitizers:
 * a refused file gets a message naming it, a failed write leaves no output behind, and a written
 * file reads back with the same shape. */
#include "dataset.h"
#include "fuzz_util.h"

#include <automl/automl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *csv = fuzz_write("input.csv", data, size), *h5 = fuzz_path("output.h5");
    aml_ctx *c = aml_ctx_new();
    aml_csv_options opt = {0};
    aml_dataset *d = NULL, *back = NULL;
    if (aml_csv_read(c, csv, &opt, &d) != AML_OK) {
        fuzz_check_message("aml_csv_read", aml_errmsg(c), csv);
    } else if (aml_hdf5_write(c, h5, d) != AML_OK) {
        if (access(h5, F_OK) == 0) {
            fprintf(stderr, "fuzz: aml_hdf5_write failed (%s) and left %s behind\n", aml_errmsg(c), h5);
            abort();
        }
    } else {
        if (aml_hdf5_read(c, h5, &back) != AML_OK || back->n_rows != d->n_rows || back->n_features != d->n_features) {
            fprintf(stderr, "fuzz: the imported file does not read back: %s\n", aml_errmsg(c));
            abort();
        }
        unlink(h5);
        fuzz_note("fuzz: imported %s", h5);
    }
    aml_dataset_free(back);
    aml_dataset_free(d);
    aml_ctx_free(c);
    free(csv);
    free(h5);
    return 0;
}
