/* The dataset fingerprint: sha256 over a canonical little-endian serialization of the schema and
 * the contents, so the same table hashes the same whether it came from CSV or HDF5, on any host.
 * It is the data version recorded in every trial and artifact. */
#include "dataset.h"

#include <math.h>
#include <openssl/evp.h>
#include <string.h>

/* Bump when the serialization changes: old fingerprints then differ on purpose. */
#define FINGERPRINT_MAGIC "aml-dataset-fingerprint-v1"

typedef struct hasher {
    EVP_MD_CTX *md;
    unsigned char buf[1 << 14];
    size_t n;
} hasher;

static void put(hasher *h, const void *p, size_t n)
{
    if (h->n + n > sizeof h->buf) {
        EVP_DigestUpdate(h->md, h->buf, h->n);
        h->n = 0;
    }
    if (n > sizeof h->buf) {
        EVP_DigestUpdate(h->md, p, n);
        return;
    }
    memcpy(h->buf + h->n, p, n);
    h->n += n;
}

static void put_u64(hasher *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(h, b, 8);
}

static void put_u32(hasher *h, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(h, b, 4);
}

/* Length-prefixed so that ("ab","c") and ("a","bc") differ. */
static void put_str(hasher *h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u64(h, (uint64_t)n);
    put(h, s, n);
}

static void put_f32(hasher *h, float f)
{
    uint32_t u;
    if (isnan(f))
        u = 0x7fc00000u; /* every NaN (missing) hashes alike, whatever its payload */
    else
        memcpy(&u, &f, 4);
    put_u32(h, u);
}

static void put_f64(hasher *h, double f)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    put_u64(h, u);
}

void aml_dataset_fingerprint(aml_dataset *d)
{
    static const char digits[] = "0123456789abcdef";
    hasher h = {.md = EVP_MD_CTX_new()};
    EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);

    put_str(&h, FINGERPRINT_MAGIC);
    put_u64(&h, (uint64_t)d->n_rows);
    put_u64(&h, (uint64_t)d->n_features);
    put_u32(&h, (uint32_t)d->task);
    put_u32(&h, (uint32_t)d->n_classes);
    for (int64_t j = 0; j < d->n_features; j++) {
        put_str(&h, d->feature_names[j]);
        put_u32(&h, d->categorical[j] ? 1 : 0);
        int nc = d->categorical[j] ? d->n_categories[j] : 0;
        put_u32(&h, (uint32_t)nc);
        for (int k = 0; k < nc; k++)
            put_str(&h, d->categories[j][k]);
    }
    for (int k = 0; k < d->n_classes; k++)
        put_str(&h, d->class_names ? d->class_names[k] : NULL);

    int64_t cells = d->n_rows * d->n_features;
    for (int64_t i = 0; i < cells; i++)
        put_f32(&h, d->X[i]);
    put_u32(&h, d->label ? 1 : 0);
    if (d->label)
        for (int64_t i = 0; i < d->n_rows; i++)
            put_u32(&h, (uint32_t)d->label[i]);
    put_u32(&h, d->value ? 1 : 0);
    if (d->value)
        for (int64_t i = 0; i < d->n_rows; i++)
            put_f64(&h, d->value[i]);
    put_u32(&h, d->weight ? 1 : 0);
    if (d->weight)
        for (int64_t i = 0; i < d->n_rows; i++)
            put_f32(&h, d->weight[i]);

    if (h.n)
        EVP_DigestUpdate(h.md, h.buf, h.n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(h.md, md, &len);
    EVP_MD_CTX_free(h.md);
    for (unsigned i = 0; i < len && i < 32; i++) {
        d->fingerprint[2 * i] = digits[md[i] >> 4];
        d->fingerprint[2 * i + 1] = digits[md[i] & 15];
    }
    d->fingerprint[64] = 0;
}
