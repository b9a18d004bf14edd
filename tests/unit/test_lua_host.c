/* lua_host: a spec file becomes the exact aml_search_spec it describes, and each kind of mistake
 * becomes AML_ERR_INPUT with one exact "FILE:LINE: field: expected" line. Specs are written into
 * a temporary directory; model checks use the plugins built under AML_PLUGIN_BUILD_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "plugin_loader.h"
#include "spec.h"

#include <dirent.h>
#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char spec_path[512];
static aml_registry *plugins; /* linear + knn (+ native and the feature plugins), or NULL when they are not built */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes text as DIR/name and returns its path. */
static const char *spec(const char *name, const char *text)
{
    snprintf(spec_path, sizeof spec_path, "%s/%s", dir, name);
    write_file(spec_path, text);
    return spec_path;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    if (chdir(AML_SOURCE_DIR) != 0) /* relative paths below (and in tests/specs) start here */
        return -1;
    snprintf(dir, sizeof dir, "/tmp/aml_lua_host_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/iris.h5", dir);
    write_file(p, "not really HDF5: lua_host only checks that the file is there");
    /* Exactly linear, knn and native, so that messages listing the models do not change as
     * more plugins are built. */
    plugins = aml_registry_new();
    aml_registry_load_file(plugins, NULL, AML_PLUGIN_BUILD_DIR "/aml_model_linear.so");
    aml_registry_load_file(plugins, NULL, AML_PLUGIN_BUILD_DIR "/aml_model_knn.so");
    aml_registry_load_file(plugins, NULL, AML_PLUGIN_BUILD_DIR "/aml_exporter_native.so");
    static const char *features[] = {"impute", "onehot", "pca", "scale", "select", "target_encode"};
    for (int i = 0; i < 6; i++) {
        char path[512];
        snprintf(path, sizeof path, AML_PLUGIN_BUILD_DIR "/aml_feature_%s.so", features[i]);
        aml_registry_load_file(plugins, NULL, path);
    }
    if (!aml_registry_find(plugins, AML_PLUGIN_MODEL, "linear") ||
        !aml_registry_find(plugins, AML_PLUGIN_MODEL, "knn")) {
        aml_registry_free(plugins);
        plugins = NULL;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aml_registry_free(plugins);
    return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#define NEED_PLUGINS()                                                                             \
    do {                                                                                           \
        if (!plugins) {                                                                            \
            print_message("skipped: the linear and knn plugins are not built in %s\n",           \
                          AML_PLUGIN_BUILD_DIR);                                                   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Loads text as DIR/name, expects AML_ERR_INPUT and the message "DIR/name" + suffix. */
static void expect_error(aml_registry *reg, const char *name, const char *text, const char *suffix)
{
    aml_ctx *c = aml_ctx_new();
    aml_search_spec s;
    memset(&s, 0x5a, sizeof s); /* outputs are written only on success */
    const char *path = spec(name, text);
    aml_status st = aml_spec_load(c, path, reg, &s);
    char want[2048];
    snprintf(want, sizeof want, "%s%s", path, suffix);
    assert_string_equal(aml_errmsg(c), want);
    assert_int_equal(st, AML_ERR_INPUT);
    assert_int_equal(s.n_models, 0x5a5a5a5a);
    aml_ctx_free(c);
}

static void load_ok(aml_registry *reg, const char *name, const char *text, aml_search_spec *s)
{
    aml_ctx *c = aml_ctx_new();
    aml_status st = aml_spec_load(c, spec(name, text), reg, s);
    if (st != AML_OK)
        fail_msg("%s", aml_errmsg(c));
    aml_ctx_free(c);
}

/* ---- good specs ----------------------------------------------------------------------------- */

static void test_full_spec(void **state)
{
    (void)state;
    aml_search_spec s;
    load_ok(NULL, "full.lua",
            "-- a comment with budget = 1 must not fool the line finder\n"
            "local data = automl.dataset{ path = 'iris.h5', target = 'species', drop = { 'id' } }\n"
            "return automl.search {\n"
            "  data = data, task = 'classification', metric = 'log_loss',\n"
            "  budget = { seconds = 12.5, trials = 40 },\n"
            "  resampling = { kind = 'kfold', folds = 10, fraction = 0.3 },\n"
            "  models = { 'knn', 'linear' },\n"
            "  features = 'auto', strategy = 'auto', parallel = 3, threads = 8,\n"
            "  ensemble = true, seed = 42,\n"
            "  export = { to = 'repo', name = 'flowers', exporters = { 'native' } },\n"
            "  out = 'runs/x',\n"
            "  on_trial = function(t) end,\n"
            "}\n",
            &s);
    char want[600], src_hash[65];
    snprintf(want, sizeof want, "%s/iris.h5", dir);
    assert_string_equal(s.spec_path, spec_path);
    assert_string_equal(s.data_path, want);
    assert_string_equal(s.data_target, "species");
    assert_int_equal(s.n_data_drop, 1);
    assert_string_equal(s.data_drop[0], "id");
    assert_int_equal(s.task, AML_TASK_CLASSIFICATION);
    assert_string_equal(s.metric, "log_loss");
    assert_true(s.budget_seconds == 12.5);
    assert_int_equal(s.budget_trials, 40);
    assert_int_equal(s.resampling, AML_RESAMPLE_KFOLD);
    assert_int_equal(s.folds, 10);
    assert_true(s.holdout_fraction == 0.3);
    assert_int_equal(s.n_models, 2);
    assert_string_equal(s.models[0].name, "knn");
    assert_string_equal(s.models[1].name, "linear");
    assert_int_equal(s.models[0].line, 7);
    assert_int_equal(s.models[0].n_ranges, 0);
    assert_string_equal(s.strategy, "auto");
    assert_int_equal(s.parallel_trials, 3);
    assert_int_equal(s.threads, 8);
    assert_int_equal(s.ensemble, 1);
    assert_int_equal(s.seed, 42);
    assert_string_equal(s.export_to, "repo");
    assert_string_equal(s.export_name, "flowers");
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0], "native");
    assert_string_equal(s.out_dir, "runs/x");
    assert_int_equal(s.n_plugin_paths, 0);
    assert_non_null(s.lua);
    assert_true(s.on_trial_ref >= 0);
    assert_int_equal(s.on_trial_line, 12);
    assert_int_equal(aml_sha256_file(NULL, spec_path, src_hash), AML_OK);
    assert_string_equal(s.spec_hash, src_hash);
    aml_spec_free(&s);
    assert_null(s.lua);
    aml_spec_free(&s); /* freeing twice is harmless: free leaves a zeroed struct */
}

static void test_defaults(void **state)
{
    (void)state;
    aml_search_spec s;
    load_ok(NULL, "min.lua", "return automl.search{ data = 'iris.h5' }\n", &s);
    char want[600];
    snprintf(want, sizeof want, "%s/iris.h5", dir);
    assert_string_equal(s.data_path, want); /* not in the working directory: next to the spec */
    assert_null(s.data_target);
    assert_int_equal(s.task, 0);
    assert_string_equal(s.metric, "auto");
    assert_true(s.budget_seconds == 60);
    assert_int_equal(s.budget_trials, 0);
    assert_int_equal(s.resampling, AML_RESAMPLE_AUTO);
    assert_int_equal(s.folds, 5);
    assert_true(s.holdout_fraction == 0.2);
    assert_int_equal(s.n_models, 0);
    assert_null(s.models);
    assert_string_equal(s.strategy, "auto");
    assert_int_equal(s.parallel_trials, 0);
    assert_int_equal(s.threads, 0);
    assert_int_equal(s.ensemble, 1); /* on by default */
    assert_int_equal(s.seed, 0);
    assert_string_equal(s.export_to, "models");
    assert_string_equal(s.export_name, "iris");
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0], "native");
    assert_null(s.out_dir);
    assert_int_equal(s.on_trial_ref, -2 /* LUA_NOREF */);
    aml_spec_free(&s);

    /* trials alone: no time limit is added */
    load_ok(NULL, "trials.lua", "return automl.search{ data = 'iris.h5', budget = { trials = 7 } }\n", &s);
    assert_true(s.budget_seconds == 0);
    assert_int_equal(s.budget_trials, 7);
    aml_spec_free(&s);

    aml_search_spec zero;
    memset(&zero, 0, sizeof zero);
    aml_spec_free(&zero);
    aml_spec_free(NULL);
}

/* A relative data path that exists under the working directory is kept as written. */
static void test_data_from_cwd(void **state)
{
    (void)state;
    aml_search_spec s;
    load_ok(NULL, "cwd.lua", "return automl.search{ data = automl.dataset('CMakeLists.txt') }\n", &s);
    assert_string_equal(s.data_path, "CMakeLists.txt");
    assert_string_equal(s.export_name, "CMakeLists");
    aml_spec_free(&s);
}

static void test_example_scripts_parse(void **state)
{
    (void)state;
    NEED_PLUGINS();
    static const char *names[] = {"iris", "wine", "breast_cancer", "digits", "diabetes", "BostonHousing"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[512], h5[512];
        snprintf(p, sizeof p, AML_SOURCE_DIR "/scripts/%s.lua", names[i]);
        snprintf(h5, sizeof h5, "datasets/%s.h5", names[i]);
        if (access(h5, F_OK) != 0) {
            print_message("%s: skipped, %s not imported yet\n", names[i], h5);
            continue;
        }
        aml_ctx *c = aml_ctx_new();
        aml_search_spec s;
        /* The examples may name every model plugin the project builds. */
        aml_registry *all = aml_registry_new();
        aml_registry_scan_dir(all, AML_PLUGIN_BUILD_DIR);
        if (aml_spec_load(c, p, all, &s) != AML_OK)
            fail_msg("%s", aml_errmsg(c));
        assert_string_equal(s.export_name, names[i]);
        assert_true(s.budget_seconds == 20);
        assert_true(s.n_models >= 2);
        aml_spec_free(&s);
        aml_registry_free(all);
        aml_ctx_free(c);
    }
}

static void test_model_ranges(void **state)
{
    (void)state;
    NEED_PLUGINS();
    aml_search_spec s;
    load_ok(plugins, "ranges.lua",
            "return automl.search {\n"
            "  data = 'iris.h5',\n"
            "  models = {\n"
            "    linear = { tol = 1e-5, l2 = automl.loguniform(1e-4, 10) },\n"
            "    knn = {\n"
            "      weights = automl.choice{ 'distance', 'uniform' },\n"
            "      k = automl.int(1, 30, { log = true }),\n"
            "    },\n"
            "  },\n"
            "}\n",
            &s);
    assert_int_equal(s.n_models, 2);
    /* named models sorted by name; parameters in the plugin's declaration order */
    aml_model_spec *knn = &s.models[0], *lin = &s.models[1];
    assert_string_equal(knn->name, "knn");
    assert_int_equal(knn->line, 5);
    assert_int_equal(knn->n_ranges, 2);
    assert_string_equal(knn->ranges[0].name, "k");
    assert_int_equal(knn->ranges[0].kind, AML_RANGE_INT);
    assert_true(knn->ranges[0].lo == 1 && knn->ranges[0].hi == 30);
    assert_int_equal(knn->ranges[0].log, 1);
    assert_int_equal(knn->ranges[0].line, 7);
    assert_string_equal(knn->ranges[1].name, "weights");
    assert_int_equal(knn->ranges[1].kind, AML_RANGE_CHOICE);
    assert_int_equal(knn->ranges[1].n_choices, 2);
    assert_string_equal(knn->ranges[1].choices[0], "distance");
    assert_string_equal(knn->ranges[1].choices[1], "uniform");
    assert_string_equal(lin->name, "linear");
    assert_int_equal(lin->n_ranges, 2);
    assert_string_equal(lin->ranges[0].name, "l2");
    assert_int_equal(lin->ranges[0].kind, AML_RANGE_LOGUNIFORM);
    assert_true(lin->ranges[0].lo == 1e-4 && lin->ranges[0].hi == 10);
    assert_int_equal(lin->ranges[0].log, 1);
    assert_string_equal(lin->ranges[1].name, "tol");
    assert_int_equal(lin->ranges[1].kind, AML_RANGE_FIXED);
    assert_true(lin->ranges[1].num == 1e-5);
    assert_int_equal(lin->ranges[1].line, 4);
    aml_spec_free(&s);

    /* fixed choice: the index and the text */
    load_ok(plugins, "fixed.lua",
            "return automl.search{ data = 'iris.h5', models = { 'linear', knn = { weights = 'distance', k = 7 } } }\n",
            &s);
    assert_string_equal(s.models[0].name, "linear");
    assert_string_equal(s.models[1].name, "knn");
    assert_int_equal(s.models[1].ranges[1].kind, AML_RANGE_FIXED);
    assert_true(s.models[1].ranges[1].num == 1);
    assert_string_equal(s.models[1].ranges[1].str, "distance");
    assert_true(s.models[1].ranges[0].num == 7);
    aml_spec_free(&s);
}

/* plugins = { dir }: loaded into the registry before the models are checked. */
static void test_plugins_field(void **state)
{
    (void)state;
    NEED_PLUGINS();
    aml_registry *empty = aml_registry_new();
    aml_search_spec s;
    load_ok(empty, "plug.lua",
            "return automl.search{ data = 'iris.h5', plugins = { '" AML_PLUGIN_BUILD_DIR "' },\n"
            "  models = { 'knn' } }\n",
            &s);
    assert_non_null(aml_registry_find(empty, AML_PLUGIN_MODEL, "knn"));
    assert_int_equal(s.n_plugin_paths, 1);
    assert_string_equal(s.plugin_paths[0], AML_PLUGIN_BUILD_DIR);
    aml_spec_free(&s);
    aml_registry_free(empty);

    char suffix[1024];
    snprintf(suffix, sizeof suffix, ":1: plugins[1]: no such file or directory '%s/nowhere'", dir);
    expect_error(NULL, "plug2.lua", "return automl.search{ data = 'iris.h5', plugins = { 'nowhere' } }\n", suffix);
}

/* ---- mistakes ------------------------------------------------------------------------------- */

static void test_unknown_field(void **state)
{
    (void)state;
    expect_error(NULL, "unknown.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  budgt = { seconds = 5 },\n"
                 "}\n",
                 ":3: unknown field 'budgt' (expected one of: data, task, metric, budget, resampling, "
                 "models, features, strategy, parallel, threads, ensemble, seed, export, plugins, out, "
                 "on_trial, warm_start)");
    expect_error(NULL, "unknown2.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  budget = { seconds = 5, trails = 3 },\n}\n",
                 ":3: budget: unknown field 'trails' (expected one of: seconds, trials)");
    expect_error(NULL, "positional.lua", "return automl.search {\n  'iris.h5',\n}\n",
                 ":1: unexpected value at [1]: fields are named, as in key = value");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error(NULL, "type1.lua", "return automl.search {\n  data = 'iris.h5',\n  task = 5,\n}\n",
                 ":3: task: expected a string, got number");
    expect_error(NULL, "type2.lua", "return automl.search {\n  data = 'iris.h5',\n  task = 'classif',\n}\n",
                 ":3: task: must be one of auto, classification, regression, got 'classif'");
    expect_error(NULL, "type3.lua", "return automl.search {\n  data = 'iris.h5',\n  ensemble = 'yes',\n}\n",
                 ":3: ensemble: expected true or false, got string");
    expect_error(NULL, "type4.lua",
                 "return automl.search {\n  data = 'iris.h5', task = 'regression',\n  metric = 'accuracy',\n}\n",
                 ":3: metric: 'accuracy' is a classification metric, but task is 'regression'");
    expect_error(NULL, "type5.lua", "return automl.search {\n  data = 'iris.h5',\n  features = 42,\n}\n",
                 ":3: features: expected \"auto\", a list of feature steps, automl.choice over pipelines, or a "
                 "table model = pipeline, got number");
    expect_error(NULL, "type6.lua", "return automl.search {\n  data = 'iris.h5',\n  resampling = { folds = 1 },\n}\n",
                 ":3: resampling.folds: must be an integer in [2, 20], got 1");
    expect_error(NULL, "type7.lua", "return automl.search {\n  data = 'iris.h5',\n  parallel = 0,\n}\n",
                 ":3: parallel: must be \"auto\" or an integer in [1, 1024], got 0");
    expect_error(NULL, "type8.lua", "return automl.search {\n  data = 'iris.h5',\n  seed = -1,\n}\n",
                 ":3: seed: must be an integer >= 0, got -1");
    expect_error(NULL, "type9.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  export = { name = '../up' },\n}\n",
                 ":3: export.name: must be a plain name (letters, digits, '-', '_', '.'), got '../up'");
}

static void test_missing_data(void **state)
{
    (void)state;
    char suffix[1024];
    snprintf(suffix, sizeof suffix,
             ":2: data: no such file 'missing.h5' (looked in the current directory and in '%s')", dir);
    expect_error(NULL, "nodata.lua", "return automl.search {\n  data = 'missing.h5',\n}\n", suffix);
    expect_error(NULL, "nodata2.lua", "return automl.search {\n  task = 'auto',\n}\n",
                 ":1: data: required: a path or automl.dataset(...)");
}

static void test_budget_seconds(void **state)
{
    (void)state;
    expect_error(NULL, "budget.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  models = { 'linear' },\n"
                 "  budget = {\n"
                 "    trials = 10,\n"
                 "    seconds = -5,\n"
                 "  },\n"
                 "}\n",
                 ":6: budget.seconds: must be > 0, got -5");
    expect_error(NULL, "budget0.lua", "return automl.search{ data = 'iris.h5', budget = { seconds = 0 } }\n",
                 ":1: budget.seconds: must be > 0, got 0");
    expect_error(NULL, "trials.lua", "return automl.search{ data = 'iris.h5',\n budget = { trials = 2.5 } }\n",
                 ":2: budget.trials: must be an integer in [1, 1000000000], got 2.5");
}

/* What a spec declares is bounded before anything is started: threads = 1e6 once started 1 600
 * threads before the system refused more. */
static void test_declared_counts(void **state)
{
    (void)state;
    expect_error(NULL, "threads.lua", "return automl.search {\n  data = 'iris.h5',\n  threads = 1e6,\n}\n",
                 ":3: threads: must be \"auto\" or an integer in [1, 1024], got 1000000");
    expect_error(NULL, "threads2.lua", "return automl.search {\n  data = 'iris.h5',\n  threads = 1025,\n}\n",
                 ":3: threads: must be \"auto\" or an integer in [1, 1024], got 1025");
    expect_error(NULL, "parallel.lua", "return automl.search {\n  data = 'iris.h5',\n  parallel = 2^40,\n}\n",
                 ":3: parallel: must be \"auto\" or an integer in [1, 1024], got 1099511627776");
    expect_error(NULL, "trials2.lua", "return automl.search{ data = 'iris.h5',\n budget = { trials = 1e12 } }\n",
                 ":2: budget.trials: must be an integer in [1, 1000000000], got 1000000000000");
    expect_error(NULL, "seconds.lua", "return automl.search{ data = 'iris.h5',\n budget = { seconds = 1/0 } }\n",
                 ":2: budget.seconds: must be in (0, 2592000] (30 days), got inf");
    expect_error(NULL, "repeats.lua",
                 "return automl.search{ data = 'iris.h5',\n resampling = { kind = 'repeated', repeats = 1e9 } }\n",
                 ":2: resampling.repeats: must be an integer in [1, 20], got 1000000000");
    aml_search_spec s;
    load_ok(NULL, "bounds_ok.lua",
            "return automl.search{ data = 'iris.h5', threads = 1024, parallel = 1024,\n"
            "  budget = { trials = 1000000000, seconds = 2592000 } }\n",
            &s);
    assert_int_equal(s.threads, 1024);
    assert_int_equal(s.parallel_trials, 1024);
    assert_int_equal(s.budget_trials, 1000000000);
    aml_spec_free(&s);
}

static void test_unknown_model(void **state)
{
    (void)state;
    NEED_PLUGINS();
    expect_error(plugins, "model.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  models = {\n"
                 "    'linear',\n"
                 "    'gbm',\n"
                 "  },\n"
                 "}\n",
                 ":5: models[2]: unknown model 'gbm' (available: knn, linear)");
    expect_error(plugins, "model2.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { gbm = { n_trees = 5 } },\n}\n",
                 ":3: models.gbm: unknown model 'gbm' (available: knn, linear)");
}

static void test_unknown_param(void **state)
{
    (void)state;
    NEED_PLUGINS();
    expect_error(plugins, "param.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  models = {\n"
                 "    linear = { l2 = 1, alpha = 0.5 },\n"
                 "  },\n"
                 "}\n",
                 ":4: models.linear.alpha: unknown parameter 'alpha' (valid: l2, l1, max_iter, tol, penalty, class_weight)");
}

static void test_bad_range(void **state)
{
    (void)state;
    NEED_PLUGINS();
    expect_error(plugins, "range1.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { linear = {\n"
                 "    l2 = automl.uniform(5, 1) } },\n}\n",
                 ":4: models.linear.l2: automl.uniform needs lo < hi, got (5, 1)");
    expect_error(plugins, "range2.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { linear = {\n"
                 "    l2 = automl.loguniform(1e-9, 10) } },\n}\n",
                 ":4: models.linear.l2: range [1e-09, 10] must lie within [1e-06, 1000]");
    expect_error(plugins, "range3.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { knn = {\n"
                 "    k = automl.uniform(1, 10) } },\n}\n",
                 ":4: models.knn.k: automl.uniform does not fit: 'k' is an integer (use automl.int)");
    expect_error(plugins, "range4.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { knn = {\n"
                 "    weights = automl.choice{ 'uniform', 'nearest' } } },\n}\n",
                 ":4: models.knn.weights: choice value 2: must be one of uniform, distance, got 'nearest'");
    expect_error(plugins, "range5.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { linear = {\n"
                 "    l1 = automl.loguniform(0, 1) } },\n}\n",
                 ":4: models.linear.l1: automl.loguniform needs lo > 0, got 0");
}

static void test_fixed_out_of_range(void **state)
{
    (void)state;
    NEED_PLUGINS();
    expect_error(plugins, "fixed1.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  models = {\n"
                 "    knn = {},\n"
                 "    linear = {\n"
                 "      l1 = 0,\n"
                 "      l2 = 5000,\n"
                 "    },\n"
                 "  },\n"
                 "}\n",
                 ":7: models.linear.l2: must be in [1e-06, 1000], got 5000");
    expect_error(plugins, "fixed2.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { knn = { k = 2.5 } },\n}\n",
                 ":3: models.knn.k: must be an integer in [1, 50], got 2.5");
    expect_error(plugins, "fixed3.lua",
                 "return automl.search {\n  data = 'iris.h5',\n  models = { knn = { weights = true } },\n}\n",
                 ":3: models.knn.weights: expected one of uniform, distance, got boolean");
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error(NULL, "syntax.lua",
                 "return automl.search {\n"
                 "  data = 'iris.h5'\n"
                 "  task = 'auto',\n"
                 "}\n",
                 ":3: '}' expected (to close '{' at line 1) near 'task'");
}

static void test_runtime_error(void **state)
{
    (void)state;
    expect_error(NULL, "runtime.lua",
                 "local opts = nil\n"
                 "return automl.search {\n"
                 "  data = 'iris.h5',\n"
                 "  seed = opts.seed,\n"
                 "}\n",
                 ":4: attempt to index a nil value (local 'opts')");
    expect_error(NULL, "runtime2.lua", "error({})\n", ":1: (error object is a table value)");
    expect_error(NULL, "runtime3.lua", "\nlocal r = automl.loguniform('a', 1)\n",
                 ":2: automl.loguniform: argument 1 (lo) must be a number, got string");
}

static void test_missing_return(void **state)
{
    (void)state;
    expect_error(NULL, "noreturn.lua", "automl.search { data = 'iris.h5' }\n",
                 ": the spec must return automl.search{...}");
    expect_error(NULL, "plain.lua", "return { data = 'iris.h5' }\n", ": the spec must return automl.search{...}");
}

/* A path longer than Lua's chunk-name limit (60) still appears whole in messages. */
static void test_long_path(void **state)
{
    (void)state;
    char sub[512];
    snprintf(sub, sizeof sub, "%s/a_directory_name_long_enough_to_be_shortened_by_lua", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    expect_error(NULL, "a_directory_name_long_enough_to_be_shortened_by_lua/spec_with_a_long_name.lua",
                 "local x = nil\nreturn x.y\n", ":2: attempt to index a nil value (local 'x')");
}

static void test_on_trial(void **state)
{
    (void)state;
    aml_search_spec s;
    load_ok(NULL, "cb.lua",
            "local seen = 0\n"
            "return automl.search {\n"
            "  data = 'iris.h5',\n"
            "  on_trial = function(t)\n"
            "    seen = seen + 1\n"
            "    if t.id == 99 then error('boom') end\n"
            "    if t.id == 98 then error('bare', 0) end\n"
            "    assert(t.model == 'knn' and t.status == 'ok' and t.seconds == 0.5, 'fields')\n"
            "    assert(t.params.k == 7 and t.params.weights == 'distance', 'params')\n"
            "    if t.id == 3 then return 'stop' end\n"
            "    if t.id == 4 then return false end\n"
            "    if t.id == 5 then return seen end\n"
            "  end,\n"
            "}\n",
            &s);
    aml_ctx *c = aml_ctx_new();
    aml_trial_summary t = {.id = 1, .model = "knn", .status = "ok", .score = 0.9, .seconds = 0.5,
                           .params_json = "{\"k\": 7, \"weights\": \"distance\"}"};
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0);
    t.id = 3;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 1);
    t.id = 4;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 1);
    t.id = 5;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0); /* a number is no request to stop */

    char want[1024];
    t.id = 99;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), AML_ERR_INPUT);
    snprintf(want, sizeof want, "%s:6: on_trial: boom", spec_path);
    assert_string_equal(aml_errmsg(c), want);
    t.id = 98;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), AML_ERR_INPUT);
    snprintf(want, sizeof want, "%s:7: on_trial: bare", spec_path);
    assert_string_equal(aml_errmsg(c), want);
    t.id = 6;
    t.params_json = "{\"k\": 8}";
    assert_int_equal(aml_spec_on_trial(c, &s, &t), AML_ERR_INPUT);
    snprintf(want, sizeof want, "%s:9: on_trial: params", spec_path);
    assert_string_equal(aml_errmsg(c), want);
    /* the state survives errors: the counter kept counting (7 calls so far, this is the 8th) */
    t.id = 5;
    t.params_json = "{\"k\": 7, \"weights\": \"distance\"}";
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0);
    assert_int_equal(lua_gettop(s.lua), 0); /* every call leaves the stack as it found it */
    aml_spec_free(&s);

    /* no callback: never stops */
    load_ok(NULL, "nocb.lua", "return automl.search{ data = 'iris.h5' }\n", &s);
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0);
    aml_spec_free(&s);
    aml_ctx_free(c);
}

/* ---- the sandbox, binary chunks, the interrupt, the memory cap ------------------------------ */

#define SANDBOX_HINT " is not available in the spec sandbox (run automl search --unsafe-spec to give the spec the full " \
                     "Lua standard library)"

/* No process, file or library access in a spec: each way out is refused with its name and line. */
static void test_sandbox(void **state)
{
    (void)state;
    static const char *const calls[][2] = {
        {"os.execute('touch /tmp/aml_sandbox_escaped')", "os.execute"},
        {"io.popen('id')", "io.popen"},
        {"package.loadlib('libc.so.6', 'system')", "package.loadlib"},
        {"io.open('/etc/passwd')", "io.open"},
        {"io.stdout:write('x')", "io.stdout"},
        {"os.remove('iris.h5')", "os.remove"},
        {"os.getenv('HOME')", "os.getenv"},
        {"os.setlocale('C')", "os.setlocale"},
        {"require('socket')", "require"},
        {"dofile('iris.lua')", "dofile"},
        {"loadfile('iris.lua')", "loadfile"},
        {"debug.sethook()", "debug.sethook"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char text[256], suffix[512];
        snprintf(text, sizeof text, "local x = 1\nlocal r = %s\nreturn automl.search { data = 'iris.h5' }\n",
                 calls[i][0]);
        snprintf(suffix, sizeof suffix, ":2: %s" SANDBOX_HINT, calls[i][1]);
        expect_error(NULL, "sandbox.lua", text, suffix);
    }
    assert_int_equal(access("/tmp/aml_sandbox_escaped", F_OK), -1);
    /* what stays: the language, strings, tables, math, utf8, coroutines, the clock and calendar */
    aml_search_spec s;
    load_ok(NULL, "sandbox_ok.lua",
            "local t = { 3, 1, 2 }\n"
            "table.sort(t)\n"
            "assert(table.concat(t, ',') == '1,2,3' and string.format('%.1f', math.pi) == '3.1')\n"
            "assert(utf8.len('h\\u{e9}') == 2 and os.time() > 0 and os.clock() >= 0 and os.date('%Y') ~= nil)\n"
            "assert(coroutine.wrap(function() coroutine.yield(7) end)() == 7)\n"
            "assert(load('return 1 + 1')() == 2 and select('#', pcall(error)) == 2)\n"
            "assert(os.nosuchfield == nil and io ~= nil)\n"
            "return automl.search { data = 'iris.h5', seed = os.difftime(5, 2) // 1 }\n",
            &s);
    assert_int_equal(s.seed, 3);
    aml_spec_free(&s);
    /* --unsafe-spec: the full standard library */
    aml_spec_options opt = {.unsafe = 1};
    aml_ctx *c = aml_ctx_new();
    char text[1024];
    snprintf(text, sizeof text,
             "local f = assert(io.open('%s/iris.h5'))\n"
             "local text = f:read('a')\n f:close()\n"
             "assert(type(os.execute) == 'function' and package.loadlib)\n"
             "return automl.search { data = 'iris.h5', seed = #text }\n",
             dir);
    aml_status st = aml_spec_load_with(c, spec("unsafe.lua", text), NULL, &opt, &s);
    if (st != AML_OK)
        fail_msg("%s", aml_errmsg(c));
    assert_int_equal(s.seed, strlen("not really HDF5: lua_host only checks that the file is there"));
    aml_spec_free(&s);
    aml_ctx_free(c);
}

/* Lua does not verify bytecode: corrupt bytecode given to load() crashed the process. Binary
 * chunks are refused everywhere, the spec file and load() alike, in the sandbox or not. */
static int dump_writer(lua_State *L, const void *p, size_t n, void *ud)
{
    (void)L;
    FILE *f = ud;
    return fwrite(p, 1, n, f) != n;
}

static void test_binary_chunks(void **state)
{
    (void)state;
    /* a real precompiled spec */
    lua_State *L = luaL_newstate();
    assert_int_equal(luaL_loadstring(L, "return automl.search { data = 'iris.h5' }"), LUA_OK);
    snprintf(spec_path, sizeof spec_path, "%s/precompiled.luac", dir);
    FILE *f = fopen(spec_path, "wb");
    assert_non_null(f);
    assert_int_equal(lua_dump(L, dump_writer, f, 0), 0);
    fclose(f);
    lua_close(L);
    aml_ctx *c = aml_ctx_new();
    aml_search_spec s;
    char want[1024];
    assert_int_equal(aml_spec_load(c, spec_path, NULL, &s), AML_ERR_INPUT);
    snprintf(want, sizeof want, "%s: a precompiled (binary) Lua chunk is refused: a spec must be Lua source text",
             spec_path);
    assert_string_equal(aml_errmsg(c), want);
    aml_ctx_free(c);
    /* load() of corrupt bytecode (the reproducer) and of good bytecode, as a string or by pieces */
    static const char *const loads[] = {
        "local f, err = load('\\27Lua\\84\\0\\25\\147\\13\\10\\26\\10\\4\\8\\8xV\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\40w\\64\\1\\255\\255\\255\\255')\n",
        "local f, err = load(string.dump(function() return 1 end), 'chunk', 'b')\n",
    };
    for (int unsafe = 0; unsafe <= 1; unsafe++)
        for (int i = 0; i < 2; i++) {
            char text[1024];
            snprintf(text, sizeof text, "%sassert(f == nil)\nerror(err)\n", loads[i]);
            aml_spec_options opt = {.unsafe = unsafe};
            c = aml_ctx_new();
            assert_int_equal(aml_spec_load_with(c, spec("load_binary.lua", text), NULL, &opt, &s), AML_ERR_INPUT);
            snprintf(want, sizeof want,
                     "%s:3: load: binary chunks are refused in a spec (only Lua source text is loaded)", spec_path);
            assert_string_equal(aml_errmsg(c), want);
            aml_ctx_free(c);
        }
    expect_error(NULL, "load_reader.lua",
                 "local parts = { string.dump(function() end) }\n"
                 "local f, err = load(function() return table.remove(parts) end)\n"
                 "error(err)\n",
                 ":3: attempt to load a binary chunk (mode is 't')");
}

/* Loads text as DIR/name with opt; expects st and the message "DIR/name" + suffix within secs. */
static void expect_stop(const char *name, const char *text, const aml_spec_options *opt, aml_status want_st,
                        const char *suffix, double secs)
{
    aml_ctx *c = aml_ctx_new();
    aml_search_spec s;
    const char *path = spec(name, text);
    double t0 = aml_now();
    aml_status st = aml_spec_load_with(c, path, NULL, opt, &s);
    double took = aml_now() - t0;
    char want[2048];
    snprintf(want, sizeof want, "%s%s", path, suffix);
    assert_string_equal(aml_errmsg(c), want);
    assert_int_equal(st, want_st);
    if (took > secs)
        fail_msg("%s: stopped after %.2f s, expected at most %.2f s", name, took, secs);
    aml_ctx_free(c);
}

static const char LOOP[] = "local n = 0\nwhile true do n = n + 1 end\n";
/* a loop that swallows the stop with pcall and goes on */
static const char STUBBORN[] = "local n = 0\nwhile true do pcall(function() while true do n = n + 1 end end) end\n";

static void test_interrupt_spec_body(void **state)
{
    (void)state;
    volatile int flag = 1;
    aml_spec_options opt = {.cancel = &flag};
    expect_stop("sigint.lua", LOOP, &opt, AML_ERR_CANCELLED, ":2: interrupted (SIGINT)", 1.0);
    expect_stop("sigint2.lua", STUBBORN, &opt, AML_ERR_CANCELLED, ":2: interrupted (SIGINT)", 1.0);
    opt = (aml_spec_options){.deadline = aml_now() + 0.3};
    expect_stop("deadline.lua", LOOP, &opt, AML_ERR_CANCELLED,
                ":2: stopped: the search's time budget ran out while Lua code was running", 1.3);
    opt = (aml_spec_options){.max_instructions = 1000000};
    expect_stop("instructions.lua", STUBBORN, &opt, AML_ERR_INPUT,
                ":2: stopped: the Lua instruction limit was reached", 5.0);
    /* Lua runs finalizers with hooks off: one that loops could not be stopped, so there are none */
    expect_error(NULL, "gc.lua",
                 "collectgarbage('stop')\n"
                 "setmetatable({}, { __gc = function() while true do end end })\n"
                 "return automl.search { data = 'iris.h5' }\n",
                 ":2: setmetatable: a __gc metamethod is not available in the spec sandbox (a finalizer cannot be "
                 "interrupted)");
    aml_search_spec s;
    load_ok(NULL, "mt.lua", "local t = setmetatable({}, { __index = function() return 5 end })\n"
                            "return automl.search { data = 'iris.h5', seed = t.x }\n", &s);
    assert_int_equal(s.seed, 5);
    aml_spec_free(&s);
}

static void test_interrupt_on_trial(void **state)
{
    (void)state;
    aml_search_spec s;
    load_ok(NULL, "loop_cb.lua",
            "return automl.search {\n"
            "  data = 'iris.h5',\n"
            "  on_trial = function(t)\n"
            "    if t.id == 0 then return end\n"
            "    while true do pcall(function() while true do end end) end\n"
            "  end,\n"
            "}\n",
            &s);
    aml_ctx *c = aml_ctx_new();
    aml_trial_summary t = {.id = 0, .model = "knn", .status = "ok", .params_json = "{}"};
    volatile int flag = 0;
    aml_spec_set_interrupt(&s, &flag, 0);
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0);
    flag = 1;
    t.id = 1;
    char want[1024];
    double t0 = aml_now();
    assert_int_equal(aml_spec_on_trial(c, &s, &t), AML_ERR_CANCELLED);
    assert_true(aml_now() - t0 < 1.0);
    snprintf(want, sizeof want, "%s:5: on_trial: interrupted (SIGINT)", spec_path);
    assert_string_equal(aml_errmsg(c), want);
    flag = 0;
    aml_spec_set_interrupt(&s, &flag, aml_now() + 0.3);
    t0 = aml_now();
    assert_int_equal(aml_spec_on_trial(c, &s, &t), AML_ERR_CANCELLED);
    assert_true(aml_now() - t0 < 1.3);
    snprintf(want, sizeof want,
             "%s:5: on_trial: stopped: the search's time budget ran out while Lua code was running", spec_path);
    assert_string_equal(aml_errmsg(c), want);
    /* the state still answers: a trial the callback returns at once for */
    aml_spec_set_interrupt(&s, NULL, 0);
    t.id = 0;
    assert_int_equal(aml_spec_on_trial(c, &s, &t), 0);
    assert_int_equal(lua_gettop(s.lua), 0);
    aml_spec_free(&s);
    aml_ctx_free(c);
}

static void test_memory_cap(void **state)
{
    (void)state;
    aml_spec_options opt = {.max_memory = 64 << 20};
    expect_stop("memory.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n", &opt,
                AML_ERR_INPUT, ": the spec needs more memory than the 64 MiB a spec may use", 30);
    expect_stop("memory2.lua", "local s = string.rep('x', 3 << 29)\n", NULL, AML_ERR_INPUT,
                ": the spec needs more memory than the 1024 MiB a spec may use", 5);
}

/* The spec file must be a regular file of sane size: a FIFO would block, /dev/zero never end. */
static void test_spec_file_kind(void **state)
{
    (void)state;
    aml_ctx *c = aml_ctx_new();
    aml_search_spec s;
    char fifo[512], want[1024];
    snprintf(fifo, sizeof fifo, "%s/fifo.lua", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(aml_spec_load(c, fifo, NULL, &s), AML_ERR_INPUT);
    snprintf(want, sizeof want, "%s: not a regular file: a spec is a Lua source file", fifo);
    assert_string_equal(aml_errmsg(c), want);
    assert_int_equal(aml_spec_load(c, "/dev/zero", NULL, &s), AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), "/dev/zero: not a regular file: a spec is a Lua source file");
    aml_ctx_free(c);
}

/* The entry point of the spec fuzz target: a spec from memory, with an instruction limit. */
static void test_load_buffer(void **state)
{
    (void)state;
    char name[512];
    snprintf(name, sizeof name, "%s/buffer.lua", dir);
    static const char text[] = "#!/usr/bin/env automl\nreturn automl.search { data = 'iris.h5', seed = 9 }\n";
    aml_spec_options opt = {.max_instructions = 1000000};
    aml_ctx *c = aml_ctx_new();
    aml_search_spec s;
    assert_int_equal(aml_spec_load_buffer(c, name, text, sizeof text - 1, NULL, &opt, &s), AML_OK);
    assert_int_equal(s.seed, 9);
    aml_spec_free(&s);
    static const char bad[] = "\nreturn automl.search { data = 'iris.h5', threads = 0 }\n";
    assert_int_equal(aml_spec_load_buffer(c, name, bad, sizeof bad - 1, NULL, &opt, &s), AML_ERR_INPUT);
    char want[1024];
    snprintf(want, sizeof want, "%s:2: threads: must be \"auto\" or an integer in [1, 1024], got 0", name);
    assert_string_equal(aml_errmsg(c), want);
    aml_ctx_free(c);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* tests/specs: good_*.lua load; bad_*.lua fail with their "-- expect: " line after the path. */
static void test_spec_fixtures(void **state)
{
    (void)state;
    DIR *d = opendir("tests/specs");
    assert_non_null(d);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strstr(e->d_name, ".lua") && (!strncmp(e->d_name, "good_", 5) || !strncmp(e->d_name, "bad_", 4)))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    assert_true(n >= 10);
    for (int i = 0; i < n; i++) {
        char path[512], *text = NULL, expect[1024] = "", want[2048];
        size_t len;
        snprintf(path, sizeof path, "tests/specs/%s", names[i]);
        assert_int_equal(aml_read_file(NULL, path, &text, &len), AML_OK);
        const char *ex = strstr(text, "-- expect: ");
        if (ex) {
            ex += strlen("-- expect: ");
            snprintf(expect, sizeof expect, "%.*s", (int)strcspn(ex, "\n"), ex);
        }
        int needs = strstr(text, "-- needs: plugins") != NULL;
        free(text);
        if (needs && !plugins) {
            print_message("%s: skipped, needs the linear and knn plugins\n", names[i]);
            free(names[i]);
            continue;
        }
        aml_ctx *c = aml_ctx_new();
        aml_search_spec s;
        aml_status st = aml_spec_load(c, path, needs ? plugins : NULL, &s);
        if (names[i][0] == 'g') {
            if (st != AML_OK)
                fail_msg("%s: %s", path, aml_errmsg(c));
            aml_spec_free(&s);
        } else {
            assert_true(ex != NULL);
            snprintf(want, sizeof want, "%s%s", path, expect);
            assert_string_equal(aml_errmsg(c), want);
            assert_int_equal(st, AML_ERR_INPUT);
        }
        aml_ctx_free(c);
        free(names[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spec),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_data_from_cwd),
        cmocka_unit_test(test_example_scripts_parse),
        cmocka_unit_test(test_model_ranges),
        cmocka_unit_test(test_plugins_field),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_budget_seconds),
        cmocka_unit_test(test_unknown_model),
        cmocka_unit_test(test_unknown_param),
        cmocka_unit_test(test_bad_range),
        cmocka_unit_test(test_fixed_out_of_range),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_runtime_error),
        cmocka_unit_test(test_missing_return),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_on_trial),
        cmocka_unit_test(test_spec_fixtures),
        cmocka_unit_test(test_declared_counts),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_binary_chunks),
        cmocka_unit_test(test_interrupt_spec_body),
        cmocka_unit_test(test_interrupt_on_trial),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_spec_file_kind),
        cmocka_unit_test(test_load_buffer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
