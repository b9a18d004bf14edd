/* trials.jsonl: one fsynced JSON line per finished trial, so that a killed search loses no
 * finished trial and --resume can reuse them. */
#ifndef AML_JOURNAL_H
#define AML_JOURNAL_H

#include "trial.h"

typedef struct aml_journal {
    int fd;
    char *path;
    int broken; /* a failed write could not be cut off: nothing more is appended */
} aml_journal;

/* Opens (creating) the journal for appending. With resume, first reads the finished trials into
 * *trials (n_trials) using reg to resolve model plugins; a torn last line (a crash mid-write) is
 * cut off. Lines of another dataset (fingerprint) are an error naming the line. Without resume, an
 * existing non-empty journal is an error (use --resume or another --out). */
aml_status aml_journal_open(aml_ctx *c, const char *path, int resume, const aml_registry *reg,
                            const char *fingerprint, aml_trial **trials, int64_t *n_trials,
                            aml_journal *out);
/* Appends one line with a single write(); aml_journal_sync then makes it durable. A failed write
 * leaves no part of its line behind (AML_ERR_IO, "PATH: write failed: ..."). The two are
 * separate so that parallel trials append under a lock but wait for the disk outside it. */
aml_status aml_journal_append(aml_ctx *c, aml_journal *j, const aml_trial *t, const char *metric,
                              const char *fingerprint);
aml_status aml_journal_sync(aml_ctx *c, aml_journal *j);
void aml_journal_close(aml_journal *j);

#endif
