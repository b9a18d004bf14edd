/* The search's parts on constructed cases: ensemble selection picks the complementary models,
 * TPE concentrates on a known optimum faster than random draws, successive halving runs its
 * rungs with the promised resources and promotes the best, a model that stops early stops on
 * rows of its training fold, never on the fold it is scored on, and temperature scaling finds the
 * hand-computed temperature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "dataset.h"
#include "ensemble.h"
#include "pipeline.h"
#include "portfolio.h"
#include "scheduler.h"
#include "trial.h"

/* ---- a fake model family: the sampler and scheduler only read the descriptor ---- */
static const aml_param_def fake_params[] = {
    {.name = "x", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 1, .def = 0.5},
    {.name = "y", .type = AML_PARAM_FLOAT, .lo = 1e-3, .hi = 1e3, .def = 1, .log_scale = 1},
};
static const aml_plugin_descriptor fake_desc = {
    AML_PLUGIN_DESCRIPTOR_INIT, .kind = AML_PLUGIN_MODEL, .name = "fake", .version = "1",
    .params = fake_params, .n_params = 2};
static const aml_plugin fake = {.desc = &fake_desc};

/* The objective: best (0) at x = 0.7, y = 10. */
static double objective(const aml_config *cfg)
{
    double dx = cfg->num[0] - 0.7, dy = log10(cfg->num[1]) - 1;
    return -(dx * dx + 0.25 * dy * dy);
}

static void ensemble_picks_complementary_models(void **state)
{
    (void)state;
    /* 10 rows, binary truth alternating; A is right on rows 0-5 only, B on rows 4-9 only, C is
     * always unsure. A + B averaged is right everywhere. */
    enum { N = 10 };
    int32_t label[N];
    double a[2 * N], b[2 * N], cc[2 * N];
    for (int i = 0; i < N; i++) {
        label[i] = i % 2;
        double right = 0.9, wrong = 0.4; /* probability given to the true class */
        double pa = i <= 5 ? right : wrong, pb = i >= 4 ? right : wrong;
        a[2 * i + label[i]] = pa, a[2 * i + 1 - label[i]] = 1 - pa;
        b[2 * i + label[i]] = pb, b[2 * i + 1 - label[i]] = 1 - pb;
        cc[2 * i] = 0.5, cc[2 * i + 1] = 0.5;
    }
    const double *oof[3] = {a, b, cc};
    int counts[3];
    double score = aml_ensemble_select(AML_METRIC_ACCURACY, oof, 3, N, 2, 2, label, NULL, NULL, 10, counts);
    assert_true(score == 1.0);
    assert_true(counts[0] > 0);
    assert_true(counts[1] > 0);
    assert_int_equal(counts[2], 0);
    /* One round is the best single model: A (ties go to the lower index) at 6/10. */
    score = aml_ensemble_select(AML_METRIC_ACCURACY, oof, 3, N, 2, 2, label, NULL, NULL, 1, counts);
    assert_true(fabs(score - 0.6) < 1e-12);
    assert_int_equal(counts[0], 1);
    /* Rows some candidate never predicted (NaN) are left out. */
    a[0] = NAN;
    score = aml_ensemble_select(AML_METRIC_ACCURACY, oof, 3, N, 2, 2, label, NULL, NULL, 10, counts);
    assert_true(score == 1.0);
    a[0] = label[0] ? 1 - 0.9 : 0.9;

    /* Selection by log loss for the counting metrics; the weighted ensemble's score by hand:
     * A x 1 + B x 3 gives the true class 0.25 * pa + 0.75 * pb. */
    assert_int_equal(aml_ensemble_selection_metric(AML_METRIC_ACCURACY), AML_METRIC_LOG_LOSS);
    assert_int_equal(aml_ensemble_selection_metric(AML_METRIC_F1_MACRO), AML_METRIC_LOG_LOSS);
    assert_int_equal(aml_ensemble_selection_metric(AML_METRIC_ROC_AUC), AML_METRIC_ROC_AUC);
    assert_int_equal(aml_ensemble_selection_metric(AML_METRIC_R2), AML_METRIC_R2);
    int w[3] = {1, 3, 0};
    double ll = aml_ensemble_score(AML_METRIC_LOG_LOSS, oof, 3, N, 2, 2, label, NULL, NULL, w), want = 0;
    for (int i = 0; i < N; i++)
        want -= log(0.25 * (i <= 5 ? 0.9 : 0.4) + 0.75 * (i >= 4 ? 0.9 : 0.4)) / N;
    assert_true(fabs(ll - want) < 1e-12);
    /* rows 0-3: 0.25 * 0.9 + 0.75 * 0.4 = 0.525 > 0.5, right; all others right too */
    assert_true(aml_ensemble_score(AML_METRIC_ACCURACY, oof, 3, N, 2, 2, label, NULL, NULL, w) == 1.0);
}

static double run_sampler(int use_tpe, uint64_t seed, int n, double *last_mean)
{
    const aml_plugin *models[1] = {&fake};
    const aml_model_spec *specs[1] = {NULL};
    aml_space sp = {.models = models, .specs = specs, .n_models = 1};
    aml_config *cfgs = calloc((size_t)n, sizeof(aml_config));
    aml_observation *obs = calloc((size_t)n, sizeof(aml_observation));
    double best = -INFINITY, tail = 0;
    for (int i = 0; i < n; i++) {
        aml_rng rng;
        aml_rng_seed(&rng, aml_mix64(seed, (uint64_t)i));
        if (use_tpe)
            aml_sample_tpe(&sp, AML_METRIC_R2, obs, i, &rng, &cfgs[i]);
        else
            aml_sample_random(&sp, &rng, &cfgs[i]);
        double v = objective(&cfgs[i]);
        obs[i] = (aml_observation){.cfg = &cfgs[i], .score = v, .seconds = 1};
        best = fmax(best, v);
        if (i >= n - 30)
            tail += v > -0.01; /* near the optimum */
    }
    for (int i = 0; i < n; i++)
        aml_config_free(&cfgs[i]);
    free(cfgs);
    free(obs);
    *last_mean = tail; /* how many of the last 30 draws were near the optimum */
    return best;
}

static void temperature_scaling_by_hand(void **state)
{
    (void)state;
    /* T = 0.5 squares the probabilities: (0.8, 0.2) -> (0.64, 0.04) / 0.68. */
    double p[4] = {0.8, 0.2, NAN, NAN};
    aml_temperature_apply(p, 2, 2, 0.5);
    assert_true(fabs(p[0] - 0.64 / 0.68) < 1e-12 && fabs(p[1] - 0.04 / 0.68) < 1e-12);
    assert_true(isnan(p[2]) && isnan(p[3])); /* a row without a prediction stays without one */

    /* An under-confident model: (0.6, 0.4) on every row, right on 80 of 100. The best tempered
     * probability is the frequency, 0.8: 1.5^(1/T) = 4, T = ln 1.5 / ln 4. */
    enum { N = 100 };
    double q[2 * N];
    int32_t label[N];
    for (int i = 0; i < N; i++) {
        label[i] = i < 80 ? 0 : 1;
        q[2 * i] = 0.6, q[2 * i + 1] = 0.4;
    }
    double t = aml_temperature_fit(q, N, 2, label, NULL);
    assert_true(fabs(t - log(1.5) / log(4)) < 1e-6);
    aml_temperature_apply(q, N, 2, t);
    assert_true(fabs(q[0] - 0.8) < 1e-6);
    /* Weights count rows: the 20 wrong rows weighing 4 each make the right class a 50/50 call,
     * which no finite temperature of (0.6, 0.4) reaches: the search ends at the upper bound. */
    float weight[N];
    for (int i = 0; i < N; i++)
        weight[i] = i < 80 ? 1 : 4;
    for (int i = 0; i < N; i++)
        q[2 * i] = 0.6, q[2 * i + 1] = 0.4;
    assert_true(fabs(aml_temperature_fit(q, N, 2, label, weight) - AML_TEMPERATURE_MAX) < 1e-4);
}

static void tpe_concentrates_on_the_optimum(void **state)
{
    (void)state;
    int tpe_wins = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        double tpe_tail, rnd_tail;
        double tpe_best = run_sampler(1, seed, 100, &tpe_tail);
        run_sampler(0, seed, 100, &rnd_tail);
        /* Most of the last 30 TPE draws sit near the optimum; random draws stay spread out. */
        assert_true(tpe_tail >= 15);
        assert_true(tpe_best > -0.002);
        tpe_wins += tpe_tail > 3 * rnd_tail;
    }
    assert_int_equal(tpe_wins, 5);
}

static void halving_rungs_and_promotions(void **state)
{
    (void)state;
    const aml_plugin *models[1] = {&fake};
    const aml_model_spec *specs[1] = {NULL};
    aml_space sp = {.models = models, .specs = specs, .n_models = 1};
    aml_scheduler *s = aml_scheduler_new(AML_STRATEGY_HALVING, 3, &sp, AML_METRIC_R2, 1);
    aml_trial trials[64];
    memset(trials, 0, sizeof trials);
    aml_job job;
    /* warm start: the family's defaults at the full resource */
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_int_equal(job.id, 0);
    assert_true(job.resource == 1);
    trials[0] = (aml_trial){.id = 0, .cfg = job.cfg, .resource = 1, .score = objective(&job.cfg)};
    /* the bracket waits for the warm start to finish */
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_WAIT);
    aml_scheduler_done(s, &trials[0]);
    /* rung 0: 9 configurations at 1/9 */
    for (int i = 1; i <= 9; i++) {
        assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
        assert_int_equal(job.id, i);
        assert_true(fabs(job.resource - 1.0 / 9) < 1e-12);
        trials[i] = (aml_trial){.id = i, .cfg = job.cfg, .resource = job.resource, .score = objective(&job.cfg)};
    }
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_WAIT); /* rung incomplete */
    for (int i = 1; i <= 9; i++)
        aml_scheduler_done(s, &trials[i]);
    /* the best three of rung 0, best first, at 1/3 */
    int order[9];
    for (int i = 0; i < 9; i++)
        order[i] = i + 1;
    for (int i = 0; i < 9; i++)
        for (int j = i + 1; j < 9; j++)
            if (trials[order[j]].score > trials[order[i]].score) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (int k = 0; k < 3; k++) {
        assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
        assert_int_equal(job.id, 10 + k);
        assert_true(fabs(job.resource - 1.0 / 3) < 1e-12);
        assert_true(job.cfg.num[0] == trials[order[k]].cfg.num[0]);
        /* make the third the best at this rung */
        trials[10 + k] = (aml_trial){.id = 10 + k, .cfg = job.cfg, .resource = job.resource, .score = k == 2 ? 1.0 : -1.0};
    }
    for (int k = 0; k < 3; k++)
        aml_scheduler_done(s, &trials[10 + k]);
    /* rung 2: the winner at the full resource */
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_int_equal(job.id, 13);
    assert_true(job.resource == 1);
    assert_true(job.cfg.num[0] == trials[12].cfg.num[0]);
    trials[13] = (aml_trial){.id = 13, .cfg = job.cfg, .resource = 1, .score = 1};
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_WAIT);
    aml_scheduler_done(s, &trials[13]);
    /* and a new bracket starts at 1/9 */
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_int_equal(job.id, 14);
    assert_true(fabs(job.resource - 1.0 / 9) < 1e-12);
    aml_config_free(&job.cfg);
    for (int i = 0; i <= 13; i++)
        aml_config_free(&trials[i].cfg);
    aml_scheduler_free(s);
}

/* Under a wall-clock budget halving is asynchronous: nobody waits for a rung to fill; the best of
 * each third of a rung's finished trials moves up as soon as it is in the top third. */
static void async_halving_promotes_without_waiting(void **state)
{
    (void)state;
    const aml_plugin *models[1] = {&fake};
    const aml_model_spec *specs[1] = {NULL};
    aml_space sp = {.models = models, .specs = specs, .n_models = 1};
    aml_scheduler *s = aml_scheduler_new(AML_STRATEGY_HALVING, 3, &sp, AML_METRIC_R2, 0);
    aml_trial trials[64];
    memset(trials, 0, sizeof trials);
    aml_job job;
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB); /* the warm start, full resource */
    assert_true(job.resource == 1);
    trials[0] = (aml_trial){.id = 0, .cfg = job.cfg, .resource = 1, .score = objective(&job.cfg)};
    /* no waiting for the warm start: rung-0 trials start at once */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
        assert_int_equal(job.id, i);
        assert_true(fabs(job.resource - 1.0 / 9) < 1e-12);
        trials[i] = (aml_trial){.id = i, .cfg = job.cfg, .resource = job.resource, .score = 0.1 * i};
    }
    /* two of three finished: nothing is in a top third yet, so a new configuration */
    aml_scheduler_done(s, &trials[1]);
    aml_scheduler_done(s, &trials[2]);
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_true(fabs(job.resource - 1.0 / 9) < 1e-12);
    trials[4] = (aml_trial){.id = 4, .cfg = job.cfg, .resource = job.resource, .score = -1};
    /* the third finishes: the best of the three (trial 3) goes up to 1/3, once */
    aml_scheduler_done(s, &trials[3]);
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_int_equal(job.id, 5);
    assert_true(fabs(job.resource - 1.0 / 3) < 1e-12);
    assert_true(job.cfg.num[0] == trials[3].cfg.num[0]);
    trials[5] = (aml_trial){.id = 5, .cfg = job.cfg, .resource = job.resource, .score = 0.9};
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_true(fabs(job.resource - 1.0 / 9) < 1e-12); /* not trial 3 again */
    trials[6] = (aml_trial){.id = 6, .cfg = job.cfg, .resource = job.resource, .score = 0.05};
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_true(fabs(job.resource - 1.0 / 9) < 1e-12);
    trials[7] = (aml_trial){.id = 7, .cfg = job.cfg, .resource = job.resource, .score = 0.15};
    /* rung 0 has six finished (top two: trials 3 and 2): trial 2 goes up next */
    aml_scheduler_done(s, &trials[4]);
    aml_scheduler_done(s, &trials[6]);
    aml_scheduler_done(s, &trials[7]);
    aml_scheduler_done(s, &trials[5]);
    assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
    assert_int_equal(job.id, 8);
    assert_true(fabs(job.resource - 1.0 / 3) < 1e-12);
    assert_true(job.cfg.num[0] == trials[2].cfg.num[0]);
    trials[8] = (aml_trial){.id = 8, .cfg = job.cfg, .resource = job.resource, .score = 0.2};
    aml_scheduler_done(s, &trials[8]);
    /* rung 1 holds trials 5 (0.9) and 8 (0.2); once a third finishes there, trial 5's
     * configuration goes to the full resource */
    int full = 0;
    for (int i = 9; i < 40 && !full; i++) {
        assert_int_equal(aml_scheduler_next(s, &job), AML_SCHED_JOB);
        if (job.resource == 1) {
            assert_true(job.cfg.num[0] == trials[5].cfg.num[0]);
            full = 1;
        }
        trials[i] = (aml_trial){.id = i, .cfg = job.cfg, .resource = job.resource, .score = 0.01 * i};
        aml_scheduler_done(s, &trials[i]);
    }
    assert_true(full);
    for (int i = 0; i < 64; i++) /* every job's configuration went into a trial */
        if (trials[i].cfg.plugin)
            aml_config_free(&trials[i].cfg);
    aml_scheduler_free(s);
}

/* ---- a fake model that stops early when its "patience" is above 0 ---- */
static const aml_param_def stopper_params[] = {
    {.name = "patience", .type = AML_PARAM_INT, .lo = 0, .hi = 10, .def = 0},
};
static int stopper_stops_early(const aml_params *p) { return p->num[0] > 0; }
static const aml_model_vtable stopper_vtable = {.version = 3, .stops_early = stopper_stops_early};
static const aml_plugin_descriptor stopper_desc = {
    AML_PLUGIN_DESCRIPTOR_INIT, .kind = AML_PLUGIN_MODEL, .name = "stopper", .version = "1",
    .params = stopper_params, .n_params = 1, .model = &stopper_vtable};
static const aml_plugin stopper = {.desc = &stopper_desc};

/* Feature 0 of row i is i: the rows a fit gets name themselves. */
static void stopping_rows_come_from_the_training_fold(void **state)
{
    (void)state;
    enum { N = 200 };
    aml_dataset *d = aml_dataset_alloc(N, 1);
    d->task = AML_TASK_CLASSIFICATION, d->n_classes = 2;
    d->label = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++)
        d->X[i] = (float)i, d->label[i] = i % 2;
    aml_folds folds;
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 5, 0, 3, N, d->label, 2, &folds), AML_OK);
    aml_splits s;
    assert_int_equal(aml_splits_make(NULL, d, &folds, &s), AML_OK);
    aml_config cfg;
    aml_config_defaults(&cfg, &stopper);
    for (int k = 0; k < s.n; k++) {
        const aml_split *sp = &s.split[k];
        aml_matrix X, stop_X;
        aml_target y, stop_y;
        cfg.num[0] = 0; /* does not stop early: every training row, nothing to stop on */
        aml_split_fit_rows(sp, &cfg, &X, &y, &stop_X, &stop_y);
        assert_int_equal(X.rows, 160);
        assert_int_equal(stop_X.rows, 0);
        assert_null(stop_y.label);
        cfg.num[0] = 5; /* stops early: a tenth of the training fold held out for it */
        aml_split_fit_rows(sp, &cfg, &X, &y, &stop_X, &stop_y);
        assert_int_equal(X.rows, 144);
        assert_int_equal(stop_X.rows, 16);
        char seen[N] = {0};
        for (int64_t i = 0; i < X.rows; i++)
            seen[(int)X.data[i * X.ld]] = 1;
        for (int64_t i = 0; i < stop_X.rows; i++) {
            int row = (int)stop_X.data[i * stop_X.ld];
            assert_int_equal(seen[row], 0); /* not trained on */
            assert_int_equal(stop_y.label[i], row % 2);
            seen[row] = 2;
        }
        for (int64_t i = 0; i < sp->valid_X.rows; i++)
            assert_int_equal(seen[sp->valid_rows[i]], 0); /* the scored fold: neither */
    }
    aml_config_free(&cfg);
    aml_splits_free(&s);
    aml_dataset_free(d);
}

/* A family's defaults come once per pipeline it may choose from, pipeline 0 first; a portfolio
 * entry that is not the defaults comes once. "forest" here is a stand-in with the fake's
 * parameters (the portfolio's other forest settings do not fit it and are left out) that takes
 * missing values natively: "auto" gives it two pipelines on data with missing cells. */
static void portfolio_tries_defaults_with_each_pipeline(void **state)
{
    (void)state;
    static const aml_plugin_descriptor forest_desc = {
        AML_PLUGIN_DESCRIPTOR_INIT, .kind = AML_PLUGIN_MODEL, .name = "forest", .version = "1",
        .params = fake_params, .n_params = 2, .flags = AML_PLUGIN_NATIVE_MISSING};
    static const aml_plugin forest = {.desc = &forest_desc};
    const aml_plugin *models[2] = {&forest, &fake};
    const aml_model_spec *specs[2] = {NULL, NULL};
    const int pipelines[2] = {aml_pipeline_auto_variants(&forest, 1), 3};
    assert_int_equal(pipelines[0], 2);
    assert_int_equal(aml_pipeline_auto_variants(&forest, 0), 1); /* no missing cells */
    assert_int_equal(aml_pipeline_auto_variants(&fake, 1), 1);   /* not native: one "auto" pipeline */
    aml_space sp = {.models = models, .specs = specs, .n_pipelines = pipelines, .n_models = 2};
    aml_config *list;
    int n = aml_portfolio(&sp, &list);
    assert_int_equal(n, 5);
    const aml_plugin *family[5] = {&forest, &forest, &fake, &fake, &fake};
    const int pipeline[5] = {0, 1, 0, 1, 2};
    for (int i = 0; i < n; i++) {
        assert_ptr_equal(list[i].plugin, family[i]);
        assert_int_equal(list[i].pipeline, pipeline[i]);
        assert_true(list[i].num[0] == 0.5 && list[i].num[1] == 1); /* the defaults */
        aml_config_free(&list[i]);
    }
    free(list);
}

static void strategy_names(void **state)
{
    (void)state;
    assert_int_equal(aml_strategy_parse("auto"), AML_STRATEGY_AUTO);
    assert_int_equal(aml_strategy_parse("random"), AML_STRATEGY_RANDOM);
    assert_int_equal(aml_strategy_parse("tpe"), AML_STRATEGY_TPE);
    assert_int_equal(aml_strategy_parse("halving"), AML_STRATEGY_HALVING);
    assert_int_equal(aml_strategy_parse("bayes"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ensemble_picks_complementary_models),
        cmocka_unit_test(temperature_scaling_by_hand),
        cmocka_unit_test(tpe_concentrates_on_the_optimum),
        cmocka_unit_test(halving_rungs_and_promotions),
        cmocka_unit_test(async_halving_promotes_without_waiting),
        cmocka_unit_test(stopping_rows_come_from_the_training_fold),
        cmocka_unit_test(portfolio_tries_defaults_with_each_pipeline),
        cmocka_unit_test(strategy_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
