/* CSV tables into datasets with libcsv (RFC 4180: quoting, embedded newlines, CRLF). Two passes
 * over the file in memory: the first checks the shape, that every cell is UTF-8 text, and finds
 * which columns are numeric; the second fills X, interning strings of categorical columns. No
 * cell changes meaning silently: what cannot be kept as written (a NUL byte, an infinity in a
 * numeric column, a value beyond float32) is refused with file, line and column. Also reads
 * rows to predict against a trained schema (aml_csv_read_for_schema). */
#include "dataset.h"

#include <csv.h>
#include <errno.h>
#include <float.h>
#include <iconv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* libcsv's "no record in progress" parser state (ROW_NOT_BEGUN in libcsv.c): a line fed in this
 * state starts a record, which is how errors can name the line a row starts on. */
#define CSV_ROW_NOT_BEGUN 0
#define CSV_FIELD_BEGUN 2
/* Task auto-detection: an integer target with at most this many distinct values is a class. */
#define MAX_AUTO_CLASSES 50

/* ---- interned strings, per column ------------------------------------------------------------ */
typedef struct strtab {
    char **s;
    int n, cap;
    int *slot; /* open addressing: index + 1, 0 = empty */
    int nslot;
} strtab;

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void strtab_grow(strtab *t)
{
    int ns = t->nslot ? 2 * t->nslot : 64;
    free(t->slot);
    t->slot = aml_xcalloc((size_t)ns, sizeof *t->slot);
    t->nslot = ns;
    for (int i = 0; i < t->n; i++) {
        uint64_t h = hash_str(t->s[i], strlen(t->s[i])) & (uint64_t)(ns - 1);
        while (t->slot[h])
            h = (h + 1) & (uint64_t)(ns - 1);
        t->slot[h] = i + 1;
    }
}

/* The id of s; inserted when add is set, otherwise -1 when absent. */
static int strtab_id(strtab *t, const char *s, int add)
{
    size_t len = strlen(s);
    if (add && 2 * (t->n + 1) > t->nslot)
        strtab_grow(t);
    if (!t->nslot)
        return -1;
    uint64_t m = (uint64_t)(t->nslot - 1), h = hash_str(s, len) & m;
    for (; t->slot[h]; h = (h + 1) & m)
        if (!strcmp(t->s[t->slot[h] - 1], s))
            return t->slot[h] - 1;
    if (!add)
        return -1;
    if (t->n == t->cap)
        t->s = aml_xrealloc(t->s, (size_t)(t->cap = t->cap ? 2 * t->cap : 16) * sizeof *t->s);
    t->s[t->n] = aml_xstrdup(s);
    t->slot[h] = ++t->n;
    return t->n - 1;
}

static void strtab_free(strtab *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slot);
}

/* ---- cells --------------------------------------------------------------------------------- */
/* Missing: empty, NA, ?, and NaN in any case with or without a sign (C's printf writes "-nan"). */
static int is_missing(const char *s)
{
    const char *u = (*s == '-' || *s == '+') ? s + 1 : s;
    return !*s || !strcasecmp(s, "NA") || !strcmp(s, "?") || !strcasecmp(u, "NaN");
}

/* A finite decimal number and nothing else ("inf", "0x10", "1e999" are not). A number too small
 * for float64 ("1e-400") rounds towards 0, as every decimal rounds to the nearest float. */
static int parse_number(const char *s, double *out)
{
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || (errno == ERANGE && fabs(v) >= 1))
        return 0;
    *out = v;
    return 1;
}

/* An infinity ("inf", "-Infinity", any case) or a decimal beyond float64 ("1e400"): numbers a
 * numeric column cannot hold, refused rather than turning the column into text. */
static int is_nonfinite(const char *s)
{
    const char *u = (*s == '-' || *s == '+') ? s + 1 : s;
    if (!strcasecmp(u, "inf") || !strcasecmp(u, "infinity"))
        return 1;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return end != s && !*end && (!isfinite(v) || (errno == ERANGE && fabs(v) >= 1));
}

/* Orders interned level strings: numerically when every one is a number ("2" < "10"), else
 * bytewise. Numeric levels equal in value ("1", "1.0") merge, the first in order naming them.
 * rank[id] gets each string's level index; returns the sorted names (malloc'd) and count. */
typedef struct level_key {
    const char *s;
    double v;
    int id;
} level_key;

static int cmp_num_key(const void *a, const void *b)
{
    const level_key *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return strcmp(x->s, y->s);
}

static int cmp_str_key(const void *a, const void *b) { return strcmp(((const level_key *)a)->s, ((const level_key *)b)->s); }

static int order_levels(const strtab *t, int all_numeric, int *rank, char ***names_out)
{
    level_key *k = aml_xcalloc((size_t)t->n + 1, sizeof *k);
    for (int i = 0; i < t->n; i++) {
        k[i].s = t->s[i];
        k[i].id = i;
        if (all_numeric)
            parse_number(t->s[i], &k[i].v);
    }
    qsort(k, (size_t)t->n, sizeof *k, all_numeric ? cmp_num_key : cmp_str_key);
    char **names = aml_xcalloc((size_t)t->n + 1, sizeof *names);
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        if (!(all_numeric && i > 0 && k[i].v == k[i - 1].v))
            names[n++] = aml_xstrdup(k[i].s);
        rank[k[i].id] = n - 1;
    }
    free(k);
    *names_out = names;
    return n;
}

/* ---- the two passes ------------------------------------------------------------------------- */
enum { COL_SKIP, COL_FEATURE, COL_TARGET };
enum { FORCE_NONE, FORCE_CATEGORICAL, FORCE_NUMERIC };

typedef struct column {
    char *name;
    int role, force;
    int64_t fj;             /* feature index when role == COL_FEATURE */
    int categorical;        /* pass 2: intern cells (import) or look up schema levels (predict) */
    int numeric;            /* pass 1: every non-missing cell is a finite number */
    int64_t bad_line;       /* pass 1: first line holding a non-numeric cell */
    char *bad_text;
    int has_text;           /* pass 1: some cell is neither missing nor a number (finite or not) */
    int64_t inf_line;       /* pass 1: first line holding an infinity or a number beyond float64 */
    char *inf_text;
    strtab levels;          /* categorical: interned cells (import) or the schema's levels */
    int *level_of_id;       /* predict: schema level index of each interned level */
    double *level_value;    /* predict: numeric value of each schema level (NaN if none) */
    int n_level;
} column;

typedef struct parser parser;
struct parser {
    aml_ctx *c;
    const char *path;
    int pass;               /* 1 scan, 2 fill */
    int schema_mode;        /* reading for a trained schema: look levels up, never add */
    aml_status st;          /* first error; callbacks do nothing once set */
    int64_t line, rec_line; /* physical line being fed / where the current record began */
    int field;              /* fields seen in the current record */
    int64_t row;            /* data rows completed; -1 while reading the header */
    column *col;
    int n_col;
    char **header;          /* pass 1, header record */
    int n_header;
    /* pass 2 outputs */
    aml_dataset *d;
    int32_t *target_id;     /* interned target string per row */
    double *target_value;   /* numeric target per row (NaN when not a number) */
    int target_bad;         /* predict: target missing or unknown somewhere */
    /* Called once the header record is read (pass 1): sets up the columns and their roles. */
    aml_status (*on_header)(parser *ps);
    const aml_csv_options *opt;
    const aml_dataset *schema;
};

/* predict: a schema level by text, else by numeric value ("1.0" finds level "1"); -1 unknown. */
static int lookup_level(const column *col, const char *s, int num, double v)
{
    int id = strtab_id((strtab *)&col->levels, s, 0);
    if (id >= 0)
        return col->level_of_id[id];
    for (int k = 0; num && k < col->n_level; k++)
        if (col->level_value[k] == v)
            return k;
    return -1;
}

static void cell(parser *ps, column *col, const char *s)
{
    int64_t i = ps->row, p = ps->d ? ps->d->n_features : 0;
    double v = NAN;
    int missing = is_missing(s), num = !missing && parse_number(s, &v);
    if (ps->pass == 1) {
        if (!missing && !num && col->numeric) {
            col->numeric = 0;
            col->bad_line = ps->line;
            col->bad_text = aml_xstrdup(s);
        }
        if (!missing && !num) {
            if (!is_nonfinite(s))
                col->has_text = 1;
            else if (!col->inf_line) {
                col->inf_line = ps->line;
                col->inf_text = aml_xstrdup(s);
            }
        }
        if (missing && col->role == COL_TARGET && !ps->schema_mode)
            ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: missing target value in column '%s'", ps->path,
                              (long long)ps->line, col->name);
        return;
    }
    if (col->role == COL_TARGET) {
        if (missing)
            ps->target_id[i] = -1;
        else if (ps->schema_mode)
            ps->target_id[i] = col->n_level ? lookup_level(col, s, num, v) : -1;
        else
            ps->target_id[i] = strtab_id(&col->levels, s, 1);
        ps->target_value[i] = v;
        return;
    }
    float *x = &ps->d->X[i * p + col->fj];
    if (missing) {
        *x = NAN;
    } else if (!col->categorical) {
        if (!num) { /* only in predict: the schema says numeric */
            ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: column '%s': expected a number, got '%s'", ps->path,
                              (long long)ps->line, col->name, s);
            return;
        }
        if (fabs(v) > FLT_MAX) {
            ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: column '%s' (column %d): %s is beyond float32's range "
                              "(±3.4e38); rescale the column", ps->path, (long long)ps->line, col->name,
                              (int)(col - ps->col) + 1, s);
            return;
        }
        *x = (float)v;
    } else if (!ps->schema_mode) {
        /* The intern id for now; remapped to the sorted level index once every level is known.
         * Ids travel as float32, exact only below 2^24. */
        if (col->levels.n >= (1 << 24)) {
            ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: column '%s' has more than %d distinct values; is it an id?",
                              ps->path, (long long)ps->line, col->name, 1 << 24);
            return;
        }
        *x = (float)strtab_id(&col->levels, s, 1);
    } else {
        int k = lookup_level(col, s, num, v);
        *x = k < 0 ? NAN : (float)k; /* an unknown level is missing */
    }
}

/* Pass 1: a cell that enters the dataset (a header name, a level, a label) must be text, UTF-8.
 * A NUL byte would end the C string early ("3\0.0" read as "3"); invalid UTF-8 would reach
 * JSON and /metrics. Returns nonzero (ps->st set) when the cell is refused. */
static int check_cell_text(parser *ps, const char *s, size_t len)
{
    int has_nul = memchr(s, 0, len) != NULL;
    int64_t bad = has_nul ? 0 : aml_utf8_invalid(s, len);
    if (!has_nul && bad < 0)
        return 0;
    char where[600];
    if (ps->row < 0)
        snprintf(where, sizeof where, "%s:%lld: header, column %d", ps->path, (long long)ps->line, ps->field + 1);
    else
        snprintf(where, sizeof where, "%s:%lld: column '%s' (column %d)", ps->path, (long long)ps->line,
                 ps->col[ps->field].name, ps->field + 1);
    const char *hint = ps->schema_mode ? "convert the file to UTF-8 first (e.g. iconv -f latin1 -t utf-8)"
                                       : "pass the file's encoding with --encoding (e.g. --encoding latin1), or save it as UTF-8";
    if (has_nul) {
        ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s: a NUL byte in the cell; a CSV file must be text (a UTF-16 file: %s)",
                          where, ps->schema_mode ? "convert it to UTF-8 first" : "pass --encoding UTF-16");
        return 1;
    }
    char *shown = aml_escape_bytes(s, len > 200 ? 200 : len);
    ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s: '%s' is not UTF-8 (byte 0x%02X); %s", where, shown, (unsigned char)s[bad],
                      hint);
    free(shown);
    return 1;
}

static void on_field(void *s, size_t len, void *data)
{
    parser *ps = data;
    if (ps->st)
        return;
    const char *text = s ? (const char *)s : "";
    len = s ? len : 0;
    if (ps->row < 0) {
        if (ps->pass == 1) {
            if (check_cell_text(ps, text, len))
                return;
            /* Each header name costs far more memory than its bytes in the file. */
            if (ps->n_header % 65536 == 65535) {
                char what[600];
                snprintf(what, sizeof what, "%s:%lld: a header of %d columns needs", ps->path, (long long)ps->line,
                         ps->n_header + 1);
                if ((ps->st = aml_data_check_bytes(ps->c, (uint64_t)(ps->n_header + 1) * (sizeof(column) + 64), 0, what)))
                    return;
            }
            ps->header = aml_xrealloc(ps->header, (size_t)(ps->n_header + 1) * sizeof *ps->header);
            ps->header[ps->n_header++] = aml_xstrdup(text);
        }
    } else if (ps->field < ps->n_col && ps->col[ps->field].role != COL_SKIP) {
        if (ps->pass == 1 && check_cell_text(ps, text, len))
            return;
        cell(ps, &ps->col[ps->field], text);
    }
    ps->field++;
}

static void on_record(int term, void *data)
{
    parser *ps = data;
    (void)term;
    if (ps->st)
        return;
    if (ps->row >= 0 && ps->field != ps->n_col)
        ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: expected %d fields, got %d", ps->path, (long long)ps->rec_line,
                          ps->n_col, ps->field);
    else if (ps->row < 0 && ps->pass == 1)
        ps->st = ps->on_header(ps);
    ps->row++;
    ps->field = 0;
}

/* Feeds the buffer one physical line at a time so records can be tied to line numbers. */
static aml_status run_pass(parser *ps, const char *buf, size_t n)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        return aml_fail(ps->c, AML_ERR_NOMEM, "%s: cannot initialise the CSV parser", ps->path);
    ps->row = -1;
    ps->field = 0;
    ps->line = 0;
    size_t pos = 0;
    if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) /* UTF-8 byte order mark */
        pos = 3;
    while (pos < n && !ps->st) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (buf + pos)) + 1 : n - pos;
        ps->line++;
        if (p.pstate == CSV_ROW_NOT_BEGUN)
            ps->rec_line = ps->line;
        if (csv_parse(&p, buf + pos, len, on_field, on_record, ps) != len && !ps->st)
            ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: %s", ps->path, (long long)ps->line,
                              csv_strerror(csv_error(&p)));
        pos += len;
    }
    /* Outside strict mode libcsv would end the file's last field silently inside open quotes. */
    if (!ps->st && p.pstate == CSV_FIELD_BEGUN && p.quoted)
        ps->st = aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: unterminated quoted field (a '\"' is never closed)", ps->path,
                          (long long)ps->rec_line);
    if (!ps->st)
        csv_fini(&p, on_field, on_record, ps);
    csv_free(&p);
    return ps->st;
}

static void free_parser(parser *ps)
{
    for (int j = 0; j < ps->n_header; j++)
        free(ps->header[j]);
    free(ps->header);
    for (int j = 0; j < ps->n_col; j++) {
        free(ps->col[j].bad_text);
        free(ps->col[j].inf_text);
        strtab_free(&ps->col[j].levels);
        free(ps->col[j].level_of_id);
        free(ps->col[j].level_value);
    }
    free(ps->col);
    free(ps->target_id);
    free(ps->target_value);
    aml_dataset_free(ps->d);
}

/* "a, b, c" for messages, shortened when the header is wide. */
static char *header_list(const parser *ps)
{
    size_t cap = 600, len = 0;
    char *s = aml_xcalloc(cap + 16, 1);
    for (int j = 0; j < ps->n_col; j++) {
        if (len + strlen(ps->col[j].name) + 2 > cap) {
            strcpy(s + len, ", ...");
            break;
        }
        len += (size_t)sprintf(s + len, "%s%s", j ? ", " : "", ps->col[j].name);
    }
    return s;
}

static int find_column(const parser *ps, const char *name)
{
    for (int j = 0; j < ps->n_col; j++)
        if (!strcmp(ps->col[j].name, name))
            return j;
    return -1;
}

/* The header record names the columns; an empty name becomes "columnN" (pandas' unnamed index). */
static aml_status setup_columns(parser *ps)
{
    ps->n_col = ps->n_header;
    ps->col = aml_xcalloc((size_t)ps->n_col, sizeof *ps->col);
    for (int j = 0; j < ps->n_col; j++) {
        column *col = &ps->col[j];
        if (!*ps->header[j]) {
            free(ps->header[j]);
            ps->header[j] = aml_xasprintf("column%d", j + 1);
        }
        col->name = ps->header[j];
        col->numeric = 1;
        for (int i = 0; i < j; i++)
            if (!strcmp(ps->col[i].name, col->name))
                return aml_fail(ps->c, AML_ERR_INPUT, "%s:%lld: duplicate column name '%s' (columns %d and %d)", ps->path,
                                (long long)ps->rec_line, col->name, i + 1, j + 1);
    }
    return AML_OK;
}

/* Applies a --categorical / --numeric list of column names. */
static aml_status apply_force(parser *ps, const char *list, int force, const char *flag)
{
    if (!list)
        return AML_OK;
    aml_status st = AML_OK;
    char *copy = aml_xstrdup(list), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name && !st; name = strtok_r(NULL, ",", &save)) {
        int j = find_column(ps, name);
        if (j < 0) {
            char *cols = header_list(ps);
            st = aml_fail(ps->c, AML_ERR_INPUT, "%s: %s: no column named '%s' (columns: %s)", ps->path, flag, name, cols);
            free(cols);
        } else if (ps->col[j].role == COL_TARGET) {
            st = aml_fail(ps->c, AML_ERR_INPUT, "%s: %s: '%s' is the target column (use --task to choose the task)",
                          ps->path, flag, name);
        } else if (ps->col[j].force && ps->col[j].force != force) {
            st = aml_fail(ps->c, AML_ERR_INPUT, "%s: column '%s' is named by both --categorical and --numeric", ps->path,
                          name);
        } else {
            ps->col[j].force = force;
        }
    }
    free(copy);
    return st;
}

static aml_status import_header(parser *ps)
{
    aml_status st = setup_columns(ps);
    if (st)
        return st;
    const char *target = ps->opt && ps->opt->target ? ps->opt->target : NULL;
    int t = target ? find_column(ps, target) : ps->n_col - 1;
    if (t < 0) {
        char *cols = header_list(ps);
        st = aml_fail(ps->c, AML_ERR_INPUT, "%s: target column '%s' is not in the header (columns: %s)", ps->path, target,
                      cols);
        free(cols);
        return st;
    }
    if (ps->n_col < 2)
        return aml_fail(ps->c, AML_ERR_INPUT, "%s: only one column ('%s'); expected feature columns and a target",
                        ps->path, ps->col[0].name);
    int64_t fj = 0;
    for (int j = 0; j < ps->n_col; j++) {
        ps->col[j].role = j == t ? COL_TARGET : COL_FEATURE;
        ps->col[j].fj = j == t ? -1 : fj++;
    }
    if (ps->opt && ((st = apply_force(ps, ps->opt->categorical, FORCE_CATEGORICAL, "--categorical")) ||
                    (st = apply_force(ps, ps->opt->numeric, FORCE_NUMERIC, "--numeric"))))
        return st;
    return AML_OK;
}

/* 1 when name is UTF-8 under one of its spellings: no conversion needed. */
static int is_utf8_name(const char *name)
{
    return !strcasecmp(name, "UTF-8") || !strcasecmp(name, "UTF8");
}

/* The whole buffer from `encoding` to UTF-8 with iconv (glibc's converters), replacing *buf.
 * Bytes that are not valid in that encoding are refused with the line they are on. */
static aml_status convert_to_utf8(aml_ctx *c, const char *path, const char *encoding, char **buf, size_t *n)
{
    iconv_t cd = iconv_open("UTF-8", encoding);
    if (cd == (iconv_t)-1)
        return aml_fail(c, AML_ERR_INPUT, "--encoding: unknown encoding '%s' (`iconv -l` lists them)", encoding);
    aml_status st = AML_OK;
    size_t cap = 2 * *n + 16, left_in = *n, left_out = cap;
    char *out = aml_xmalloc(cap + 1), *in = *buf, *o = out;
    while (left_in > 0) {
        if (iconv(cd, &in, &left_in, &o, &left_out) != (size_t)-1)
            continue;
        if (errno == E2BIG) { /* UTF-8 took more than twice the bytes: grow */
            size_t used = (size_t)(o - out);
            cap *= 2;
            out = aml_xrealloc(out, cap + 1);
            o = out + used;
            left_out = cap - used;
            continue;
        }
        int64_t line = 1;
        for (const char *p = *buf; p < in; p++)
            line += *p == '\n';
        st = aml_fail(c, AML_ERR_INPUT, "%s:%lld: byte 0x%02X is not %s text (--encoding %s)", path, (long long)line,
                      (unsigned char)*in, encoding, encoding);
        break;
    }
    iconv_close(cd);
    if (st) {
        free(out);
        return st;
    }
    *o = 0;
    free(*buf);
    *buf = out;
    *n = (size_t)(o - out);
    return AML_OK;
}

/* Reads the file (converted to UTF-8 when an encoding is named) and runs the scan pass (header,
 * shape, text, numeric columns). */
static aml_status scan(parser *ps, aml_ctx *c, const char *path, const char *encoding, char **buf, size_t *n)
{
    ps->c = c;
    ps->path = path;
    /* The file is read whole: a regular file must fit under the memory limit first (a pipe is
     * read as it comes). */
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        char what[600];
        snprintf(what, sizeof what, "%s: the file, read whole, needs", path);
        if (aml_data_check_bytes(c, (uint64_t)sb.st_size, 0, what))
            return AML_ERR_INPUT;
    }
    if (aml_read_file(c, path, buf, n))
        return AML_ERR_INPUT; /* an input that cannot be read is bad input; the message says why */
    if (encoding && !is_utf8_name(encoding) && convert_to_utf8(c, path, encoding, buf, n))
        return AML_ERR_INPUT;
    ps->pass = 1;
    aml_status st = run_pass(ps, *buf, *n);
    if (st)
        return st;
    if (!ps->col)
        return aml_fail(c, AML_ERR_INPUT, "%s: empty file; expected a header row naming the columns", path);
    if (ps->row <= 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: no data rows after the header", path);
    return AML_OK;
}

static aml_status alloc_output(parser *ps, int64_t p)
{
    int64_t n = ps->row;
    /* X as float32, and per row the target's id, value and label. */
    aml_status st = aml_data_check_memory(ps->c, ps->path, "the table", (uint64_t)n, (uint64_t)p, sizeof(float), 16);
    if (st)
        return st;
    ps->d = aml_dataset_alloc(n, p);
    ps->target_id = aml_xmalloc((size_t)n * sizeof *ps->target_id);
    ps->target_value = aml_xmalloc((size_t)n * sizeof *ps->target_value);
    for (int j = 0; j < ps->n_col; j++) {
        column *col = &ps->col[j];
        if (col->role == COL_FEATURE) {
            free(ps->d->feature_names[col->fj]);
            ps->d->feature_names[col->fj] = aml_xstrdup(col->name);
            ps->d->categorical[col->fj] = (uint8_t)col->categorical;
        } else if (col->role == COL_TARGET) {
            free(ps->d->target_name);
            ps->d->target_name = aml_xstrdup(col->name);
        }
    }
    return AML_OK;
}

/* The task, when auto: a non-numeric target is a class label; an integer target with few
 * distinct values (at most 50 and fewer than half the rows) is too; anything else is a value. */
static int detect_task(const parser *ps, const column *tc, int n_distinct)
{
    if (!tc->numeric)
        return AML_TASK_CLASSIFICATION;
    for (int64_t i = 0; i < ps->row; i++)
        if (ps->target_value[i] != floor(ps->target_value[i]))
            return AML_TASK_REGRESSION;
    if (n_distinct <= MAX_AUTO_CLASSES && 2 * (int64_t)n_distinct < ps->row)
        return AML_TASK_CLASSIFICATION;
    return AML_TASK_REGRESSION;
}

static aml_status finish_import(parser *ps, int task)
{
    aml_dataset *d = ps->d;
    int64_t n = d->n_rows, p = d->n_features;
    for (int j = 0; j < ps->n_col; j++) {
        column *col = &ps->col[j];
        if (col->role != COL_FEATURE || !col->categorical)
            continue;
        int *rank = aml_xcalloc((size_t)col->levels.n + 1, sizeof *rank);
        int nl = order_levels(&col->levels, col->numeric, rank, &d->categories[col->fj]);
        d->n_categories[col->fj] = nl;
        for (int64_t i = 0; i < n; i++) {
            float *x = &d->X[i * p + col->fj];
            if (!isnan(*x))
                *x = (float)rank[(int)*x];
        }
        free(rank);
    }
    column *tc = NULL;
    for (int j = 0; j < ps->n_col; j++)
        if (ps->col[j].role == COL_TARGET)
            tc = &ps->col[j];
    int *rank = aml_xcalloc((size_t)tc->levels.n + 1, sizeof *rank);
    char **names = NULL;
    int k = order_levels(&tc->levels, tc->numeric, rank, &names);
    if (!task)
        task = detect_task(ps, tc, k);
    d->task = task;
    if (task == AML_TASK_CLASSIFICATION) {
        d->n_classes = k;
        d->class_names = names;
        d->label = aml_xmalloc((size_t)n * sizeof *d->label);
        for (int64_t i = 0; i < n; i++)
            d->label[i] = rank[ps->target_id[i]];
    } else {
        for (int i = 0; i < k; i++)
            free(names[i]);
        free(names);
        d->value = ps->target_value;
        ps->target_value = NULL;
    }
    free(rank);
    return AML_OK;
}

aml_status aml_csv_read(aml_ctx *c, const char *path, const aml_csv_options *opt, aml_dataset **out)
{
    parser ps = {.on_header = import_header, .opt = opt};
    char *buf = NULL;
    size_t n = 0;
    int task = opt ? opt->task : 0;
    aml_status st = scan(&ps, c, path, opt ? opt->encoding : NULL, &buf, &n);
    if (st)
        goto fail;
    if (task != 0 && task != AML_TASK_CLASSIFICATION && task != AML_TASK_REGRESSION) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: unknown task %d", path, task);
        goto fail;
    }
    int64_t p = 0;
    for (int j = 0; j < ps.n_col; j++) {
        column *col = &ps.col[j];
        /* An infinity among numbers would make the column text without a word: refuse it, unless
         * the column is text anyway (or forced categorical) and "inf" is one of its levels. */
        if (col->inf_line && !col->has_text && col->force != FORCE_CATEGORICAL) {
            st = aml_fail(c, AML_ERR_INPUT,
                          "%s:%lld: column '%s' (column %d): '%s' is not a finite number (an infinity, or beyond "
                          "±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one",
                          path, (long long)col->inf_line, col->name, j + 1, col->inf_text);
            goto fail;
        }
        if (col->role == COL_TARGET) {
            if (task == AML_TASK_REGRESSION && !col->numeric) {
                st = aml_fail(c, AML_ERR_INPUT, "%s:%lld: target '%s' holds '%s'; a regression target must be numeric",
                              path, (long long)col->bad_line, col->name, col->bad_text);
                goto fail;
            }
            continue;
        }
        p++;
        if (col->force == FORCE_NUMERIC && !col->numeric) {
            st = aml_fail(c, AML_ERR_INPUT, "%s:%lld: column '%s' (column %d) is forced numeric but holds '%s'", path,
                          (long long)col->bad_line, col->name, j + 1, col->bad_text);
            goto fail;
        }
        col->categorical = col->force == FORCE_CATEGORICAL || (col->force == FORCE_NONE && !col->numeric);
    }
    if ((st = alloc_output(&ps, p)))
        goto fail;
    ps.pass = 2;
    if ((st = run_pass(&ps, buf, n)) || (st = finish_import(&ps, task)))
        goto fail;
    ps.d->path = aml_xstrdup(path);
    aml_dataset_fingerprint(ps.d);
    *out = ps.d;
    ps.d = NULL;
fail:
    free(buf);
    free_parser(&ps);
    return st;
}

/* ---- rows to predict, in a trained schema ---------------------------------------------------- */

static void schema_levels(column *col, char *const *levels, int n)
{
    col->n_level = n;
    col->level_of_id = aml_xcalloc((size_t)n + 1, sizeof *col->level_of_id);
    col->level_value = aml_xcalloc((size_t)n + 1, sizeof *col->level_value);
    for (int k = 0; k < n; k++) {
        int before = col->levels.n, id = strtab_id(&col->levels, levels[k], 1);
        if (col->levels.n > before)
            col->level_of_id[id] = k; /* a duplicated level keeps its first index */
        if (!parse_number(levels[k], &col->level_value[k]))
            col->level_value[k] = NAN;
    }
}

static aml_status schema_header(parser *ps)
{
    aml_status st = setup_columns(ps);
    if (st)
        return st;
    const aml_dataset *s = ps->schema;
    for (int64_t j = 0; j < s->n_features; j++) {
        int k = find_column(ps, s->feature_names[j]);
        if (k < 0)
            return aml_fail(ps->c, AML_ERR_INPUT, "%s: missing feature column '%s' (the model expects %lld features)",
                            ps->path, s->feature_names[j], (long long)s->n_features);
        column *col = &ps->col[k];
        col->role = COL_FEATURE;
        col->fj = j;
        col->categorical = s->categorical[j] != 0;
        if (col->categorical)
            schema_levels(col, s->categories[j], s->categories[j] ? s->n_categories[j] : 0);
    }
    int t = s->target_name && s->task ? find_column(ps, s->target_name) : -1;
    if (t >= 0 && ps->col[t].role == COL_SKIP) {
        ps->col[t].role = COL_TARGET;
        if (s->task == AML_TASK_CLASSIFICATION)
            schema_levels(&ps->col[t], s->class_names, s->n_classes);
    }
    return AML_OK;
}

aml_status aml_csv_read_for_schema(aml_ctx *c, const char *path, const aml_dataset *schema, aml_dataset **out,
                                   char **extra)
{
    parser ps = {.on_header = schema_header, .schema = schema, .schema_mode = 1};
    char *buf = NULL;
    size_t n = 0;
    aml_status st = scan(&ps, c, path, NULL, &buf, &n);
    if (st || (st = alloc_output(&ps, schema->n_features)))
        goto fail;
    aml_dataset *d = ps.d;
    for (int64_t j = 0; j < d->n_features; j++) {
        int nl = schema->categories[j] ? schema->n_categories[j] : 0;
        d->n_categories[j] = nl;
        d->categorical[j] = schema->categorical[j];
        if (nl) {
            d->categories[j] = aml_xcalloc((size_t)nl + 1, sizeof(char *));
            for (int k = 0; k < nl; k++)
                d->categories[j][k] = aml_xstrdup(schema->categories[j][k]);
        }
    }
    d->task = schema->task;
    d->n_classes = schema->n_classes;
    if (schema->n_classes) {
        d->class_names = aml_xcalloc((size_t)schema->n_classes + 1, sizeof(char *));
        for (int k = 0; k < schema->n_classes; k++)
            d->class_names[k] = aml_xstrdup(schema->class_names[k]);
    }
    free(d->target_name);
    d->target_name = aml_xstrdup(schema->target_name ? schema->target_name : "target");
    ps.pass = 2;
    if ((st = run_pass(&ps, buf, n)))
        goto fail;

    int has_target = 0;
    for (int j = 0; j < ps.n_col; j++)
        has_target |= ps.col[j].role == COL_TARGET;
    for (int64_t i = 0; has_target && i < d->n_rows; i++)
        if (d->task == AML_TASK_CLASSIFICATION ? ps.target_id[i] < 0 : isnan(ps.target_value[i]))
            has_target = 0; /* a missing or unknown target: the rows can be predicted, not scored */
    if (has_target && d->task == AML_TASK_CLASSIFICATION) {
        d->label = aml_xmalloc((size_t)d->n_rows * sizeof *d->label);
        for (int64_t i = 0; i < d->n_rows; i++)
            d->label[i] = ps.target_id[i];
    } else if (has_target) {
        d->value = ps.target_value;
        ps.target_value = NULL;
    }
    if (extra) {
        char *list = NULL;
        for (int j = 0; j < ps.n_col; j++) {
            if (ps.col[j].role != COL_SKIP)
                continue;
            char *next = list ? aml_xasprintf("%s,%s", list, ps.col[j].name) : aml_xstrdup(ps.col[j].name);
            free(list);
            list = next;
        }
        *extra = list;
    }
    d->path = aml_xstrdup(path);
    aml_dataset_fingerprint(d);
    *out = d;
    ps.d = NULL;
fail:
    free(buf);
    free_parser(&ps);
    return st;
}
