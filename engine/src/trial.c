/* Running one trial: fit on each split's training rows, score its validation rows. The split
 * blocks are built once per search, so trials share them instead of copying the dataset. */
#include "trial.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

aml_status aml_splits_make(aml_ctx *c, const aml_dataset *d, const aml_folds *folds, aml_splits *out)
{
    (void)c;
    aml_splits s = {.n = folds->n_splits, .folds = *folds};
    s.split = aml_xcalloc((size_t)s.n, sizeof(aml_split));
    int64_t nf = d->n_features;
    for (int k = 0; k < s.n; k++) {
        aml_split *sp = &s.split[k];
        int64_t n_valid = 0;
        for (int64_t i = 0; i < d->n_rows; i++)
            n_valid += aml_folds_validates(folds, k, i);
        int64_t n_train = d->n_rows - n_valid;
        sp->train_buf = aml_xmalloc(sizeof(float) * (size_t)(n_train * nf));
        sp->valid_buf = aml_xmalloc(sizeof(float) * (size_t)(n_valid * nf));
        sp->valid_rows = aml_xmalloc(sizeof(int64_t) * (size_t)(n_valid + 1));
        if (d->label)
            sp->label_buf = aml_xmalloc(sizeof(int32_t) * (size_t)d->n_rows);
        if (d->value)
            sp->value_buf = aml_xmalloc(sizeof(double) * (size_t)d->n_rows);
        if (d->weight)
            sp->weight_buf = aml_xmalloc(sizeof(float) * (size_t)d->n_rows);
        /* Training rows in a shuffled order (fixed per split), so that any prefix of them is a
         * random sample: the row budget of successive halving takes prefixes. */
        int64_t *slot = aml_xmalloc(sizeof(int64_t) * (size_t)(n_train + 1));
        for (int64_t q = 0; q < n_train; q++)
            slot[q] = q;
        aml_rng rng;
        aml_rng_seed(&rng, aml_mix64(0x5a17ed5a17edULL, (uint64_t)k));
        for (int64_t q = n_train - 1; q > 0; q--) {
            int64_t r = (int64_t)aml_rng_below(&rng, (uint64_t)q + 1), tmp = slot[q];
            slot[q] = slot[r];
            slot[r] = tmp;
        }
        int64_t ti = 0, vi = 0;
        for (int64_t i = 0; i < d->n_rows; i++) {
            int valid = aml_folds_validates(folds, k, i);
            int64_t at = valid ? n_train + vi : slot[ti];
            float *dst = valid ? sp->valid_buf + vi * nf : sp->train_buf + slot[ti] * nf;
            memcpy(dst, d->X + i * nf, sizeof(float) * (size_t)nf);
            if (d->label)
                sp->label_buf[at] = d->label[i];
            if (d->value)
                sp->value_buf[at] = d->value[i];
            if (d->weight)
                sp->weight_buf[at] = d->weight[i];
            if (valid)
                sp->valid_rows[vi++] = i;
            else
                ti++;
        }
        free(slot);
        /* a tenth of the (shuffled) training rows for early stopping, as scikit-learn's
         * validation_fraction; none where that would be a handful of rows */
        sp->n_stop = n_train / 10 >= 5 ? n_train / 10 : 0;
        sp->train_X = (aml_matrix){sp->train_buf, n_train, nf, nf};
        sp->valid_X = (aml_matrix){sp->valid_buf, n_valid, nf, nf};
        sp->train_y = (aml_target){
            .label = sp->label_buf, .value = sp->value_buf, .weight = sp->weight_buf};
        sp->valid_y = (aml_target){.label = sp->label_buf ? sp->label_buf + n_train : NULL,
                                   .value = sp->value_buf ? sp->value_buf + n_train : NULL,
                                   .weight = sp->weight_buf ? sp->weight_buf + n_train : NULL};
    }
    *out = s;
    return AML_OK;
}

void aml_splits_free(aml_splits *s)
{
    if (!s)
        return;
    for (int k = 0; k < s->n; k++) {
        aml_split *sp = &s->split[k];
        free(sp->train_buf);
        free(sp->valid_buf);
        free(sp->valid_rows);
        free(sp->label_buf);
        free(sp->value_buf);
        free(sp->weight_buf);
    }
    free(s->split);
    aml_folds_free(&s->folds);
    memset(s, 0, sizeof *s);
}

void aml_split_fit_rows(const aml_split *sp, const aml_config *cfg, aml_matrix *X, aml_target *y,
                        aml_matrix *stop_X, aml_target *stop_y)
{
    *X = sp->train_X, *y = sp->train_y;
    *stop_X = (aml_matrix){NULL, 0, sp->train_X.cols, sp->train_X.cols}, *stop_y = (aml_target){0};
    if (sp->n_stop == 0 || !aml_model_stops_early(cfg))
        return;
    int64_t keep = sp->train_X.rows - sp->n_stop, nf = sp->train_X.cols;
    X->rows = keep;
    *stop_X = (aml_matrix){sp->train_X.data + keep * nf, sp->n_stop, nf, sp->train_X.ld};
    *stop_y = (aml_target){.label = y->label ? y->label + keep : NULL,
                           .value = y->value ? y->value + keep : NULL,
                           .weight = y->weight ? y->weight + keep : NULL};
}

static void fail_trial(aml_trial *t, aml_trial_status status, const char *msg)
{
    t->status = status;
    free(t->error);
    t->error = aml_xstrdup(msg);
    t->score = NAN;
}

/* Predicts X in blocks of rows, stopping (AML_ERR_CANCELLED) once hc's deadline has passed:
 * under a clock budget a trial must not overrun predicting many validation rows with a costly
 * model (deep forests, hundreds of boosting rounds), and most plugins do not check the deadline
 * while they predict. */
#define PREDICT_BLOCK 4096
static aml_status predict_by_deadline(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m, const aml_matrix *X,
                                      double *pred, int n_out)
{
    for (int64_t r0 = 0; r0 < X->rows; r0 += PREDICT_BLOCK) {
        if (hc->deadline > 0 && aml_now() > hc->deadline)
            return aml_fail(c, AML_ERR_CANCELLED, "%s: predict cancelled (deadline)", m->plugin->desc->name);
        aml_matrix block = {X->data + r0 * X->ld, X->rows - r0 < PREDICT_BLOCK ? X->rows - r0 : PREDICT_BLOCK,
                            X->cols, X->ld};
        aml_status st = aml_fitted_predict(c, hc, m, &block, pred + r0 * n_out);
        if (st != AML_OK)
            return st;
    }
    return AML_OK;
}

void aml_trial_run(aml_trial *t, aml_host_ctx *hc, const aml_dataset *d, const aml_splits *s,
                   aml_metric metric)
{
    double t0 = aml_now(), fit_total = 0;
    aml_ctx ctx = {{0}};
    aml_task task = {.kind = d->task,
                     .n_classes = d->n_classes,
                     .n_features = d->n_features,
                     .categorical = d->categorical,
                     .seed = t->seed};
    int n_out = d->task == AML_TASK_CLASSIFICATION ? d->n_classes : 1;
    t->n_folds = s->n;
    t->n_out = n_out;
    if (!(t->resource > 0 && t->resource <= 1))
        t->resource = 1;
    free(t->oof);
    t->oof = aml_xmalloc(sizeof(double) * (size_t)(d->n_rows * n_out));
    for (int64_t i = 0; i < d->n_rows * n_out; i++)
        t->oof[i] = NAN;
    free(t->fold_scores);
    t->fold_scores = aml_xcalloc((size_t)s->n, sizeof(double));
    t->status = AML_TRIAL_OK;
    double sum = 0, used = 0, predict_total = 0, outer = hc->deadline;
    for (int k = 0; k < s->n; k++) {
        const aml_split *sp = &s->split[k];
        aml_fitted m;
        double f0 = aml_now();
        /* Split k must be done by its share of the cap, its fit by 70 % of that share: the rest
         * is for predicting the validation rows (slow for a deep forest). */
        double split_end = t->max_seconds > 0 ? t0 + t->max_seconds * (k + 1) / s->n : 0;
        if (split_end > 0) {
            double by = split_end - 0.3 * t->max_seconds / s->n;
            hc->deadline = outer > 0 && outer < by ? outer : by;
        }
        task.seed = aml_mix64(t->seed, (uint64_t)k);
        /* Below the full resource, a resumable plugin gets the fraction (fewer trees or epochs);
         * the others get a prefix of the training rows (shuffled when the split was made). */
        aml_matrix train_X, stop_X;
        aml_target train_y, stop_y;
        aml_split_fit_rows(sp, &t->cfg, &train_X, &train_y, &stop_X, &stop_y);
        double resource = t->resource;
        if (resource < 1 && !aml_plugin_resumable(t->cfg.plugin->desc)) {
            int64_t rows = (int64_t)ceil(resource * (double)train_X.rows), least = 20 + 2 * d->n_classes;
            train_X.rows = rows > least ? rows : (least < train_X.rows ? least : train_X.rows);
            resource = 1;
        }
        aml_status st = aml_fitted_fit_resource(&ctx, hc, &t->cfg, &task, &train_X, &train_y,
                                                stop_X.rows > 0 ? &stop_X : NULL, stop_X.rows > 0 ? &stop_y : NULL,
                                                resource, &m);
        fit_total += aml_now() - f0;
        if (st != AML_OK) {
            fail_trial(t, st == AML_ERR_CANCELLED ? AML_TRIAL_CANCELLED : AML_TRIAL_FAILED, ctx.msg);
            break;
        }
        used += aml_fitted_used_resource(&m);
        double *pred = aml_xmalloc(sizeof(double) * (size_t)(sp->valid_X.rows * n_out));
        double p0 = aml_now();
        if (split_end > 0) {
            hc->deadline = outer > 0 && outer < split_end ? outer : split_end;
            st = predict_by_deadline(&ctx, hc, &m, &sp->valid_X, pred, n_out);
        } else {
            st = aml_fitted_predict(&ctx, hc, &m, &sp->valid_X, pred);
        }
        predict_total += aml_now() - p0;
        if (k == 0 && t->keep_fold_model && st == AML_OK) {
            aml_fitted_free(t->fold_model);
            free(t->fold_model);
            t->fold_model = aml_xmalloc(sizeof *t->fold_model);
            *t->fold_model = m;
        } else {
            aml_fitted_free(&m);
        }
        if (st != AML_OK) {
            free(pred);
            fail_trial(t, st == AML_ERR_CANCELLED ? AML_TRIAL_CANCELLED : AML_TRIAL_FAILED, ctx.msg);
            break;
        }
        double score = aml_metric_score(metric, sp->valid_X.rows, d->n_classes, sp->valid_y.label,
                                        sp->valid_y.value, sp->valid_y.weight, pred);
        /* repeated k-fold validates each row once per repeat: the sum here, the mean below */
        for (int64_t i = 0; i < sp->valid_X.rows; i++) {
            double *o = t->oof + sp->valid_rows[i] * n_out;
            for (int q = 0; q < n_out; q++)
                o[q] = isnan(o[q]) ? pred[i * n_out + q] : o[q] + pred[i * n_out + q];
        }
        free(pred);
        if (isnan(score)) {
            fail_trial(t, AML_TRIAL_FAILED, "the validation score is NaN (the model predicted NaN)");
            break;
        }
        t->fold_scores[k] = score;
        sum += score;
    }
    if (t->status == AML_TRIAL_OK) {
        if (s->folds.repeats > 1)
            for (int64_t i = 0; i < d->n_rows * n_out; i++)
                t->oof[i] /= s->folds.repeats;
        t->score = sum / s->n;
        t->used_resource = used / s->n;
    } else {
        free(t->oof);
        t->oof = NULL;
        aml_trial_drop_fold_model(t);
    }
    hc->deadline = outer;
    t->seconds = aml_now() - t0;
    t->fit_seconds = fit_total / s->n;
    t->predict_seconds = predict_total / s->n;
}

void aml_trial_drop_fold_model(aml_trial *t)
{
    if (!t->fold_model)
        return;
    aml_fitted_free(t->fold_model);
    free(t->fold_model);
    t->fold_model = NULL;
}

void aml_trial_clear(aml_trial *t)
{
    if (!t)
        return;
    aml_trial_drop_fold_model(t);
    aml_config_free(&t->cfg);
    free(t->error);
    free(t->fold_scores);
    free(t->oof);
    memset(t, 0, sizeof *t);
}
