/* The repository watcher: a background thread that scans REPO/<model>/<version>/ at start, every
 * poll interval and on SIGHUP, applies each model's version policy, has new versions loaded
 * (loader.c: in threads, under a time limit) and swaps the served set into the registry as loads
 * finish. A version that fails to load is refused, counted and not retried until its manifest.json
 * changes. */
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct known {
    int version;
    int64_t mtime_ns;      /* of manifest.json (0 when absent) when loaded or refused */
    amld_version *loaded;  /* our reference; NULL when refused */
    char *reason;          /* why it was refused */
    uint64_t job;          /* the load in progress (loader id), 0 when none */
} known;

typedef struct disk_version {
    int version;
    int64_t mtime_ns;      /* of its manifest.json, 0 when absent */
} disk_version;

typedef struct wmodel {
    char *name;
    known *k;
    int n, cap;
    int on_disk;
    disk_version *disk;    /* the versions on disk at the last scan, descending */
    int n_disk;
    char *served;          /* "2, 1": the last served list, for the log line on change */
} wmodel;

struct amld_watcher {
    const amld_options *opt;
    amld_config cfg;
    char *cfg_path;
    int64_t cfg_mtime;     /* -1: absent */
    amld_registry *reg;
    amld_metrics *metrics;
    aml_registry *plugins;
    wmodel *models;
    int n_models, cap_models;
    amld_loader *loader;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int kicked, stop;
    int loads_done;        /* a load finished: collect it */
};

static int64_t mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* An integer version directory name: digits, no leading zero, at most 9 digits. */
static int version_of(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 9 || name[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++)
        if (name[i] < '0' || name[i] > '9')
            return -1;
    return atoi(name);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static known *find_known(wmodel *m, int version)
{
    for (int i = 0; i < m->n; i++)
        if (m->k[i].version == version)
            return &m->k[i];
    return NULL;
}

static void forget(wmodel *m, int i)
{
    amld_version_release(m->k[i].loaded);
    free(m->k[i].reason);
    m->k[i] = m->k[--m->n];
}

static int cmp_desc(const void *a, const void *b)
{
    return *(const int *)b - *(const int *)a;
}

static void reload_config(amld_watcher *w)
{
    int64_t mt = mtime_ns(w->cfg_path);
    if (mt == w->cfg_mtime)
        return;
    w->cfg_mtime = mt;
    amld_config cfg;
    aml_ctx c = {{0}};
    if (amld_config_load(&c, w->cfg_path, w->opt->config_explicit, &cfg) != AML_OK) {
        amld_log("%s; keeping the previous config", c.msg);
        return;
    }
    amld_config_free(&w->cfg);
    w->cfg = cfg;
    amld_log("config %s: %d model(s) configured", mt < 0 ? "(none)" : w->cfg_path, cfg.n_models);
}

static known *need_known(wmodel *m, int v)
{
    known *k = find_known(m, v);
    if (k)
        return k;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 8;
        m->k = aml_xrealloc(m->k, sizeof *m->k * (size_t)m->cap);
    }
    k = &m->k[m->n++];
    memset(k, 0, sizeof *k);
    k->version = v;
    return k;
}

/* Queues a load of version v (new, or its manifest changed). A loaded copy stays served until the
 * new one is in; a previous refusal is forgotten. */
static void queue_load(amld_watcher *w, wmodel *m, known *k, int64_t mt)
{
    free(k->reason);
    k->reason = NULL;
    char *dir = aml_xasprintf("%s/%s/%d", w->opt->repo, m->name, k->version);
    k->job = amld_loader_submit(w->loader, dir, m->name, k->version, mt);
    free(dir);
}

/* A finished load: served from now on, or refused with its reason (logged and counted). */
static void apply_load(amld_watcher *w, amld_load *r)
{
    wmodel *m = NULL;
    for (int i = 0; i < w->n_models && !m; i++)
        if (!strcmp(w->models[i].name, r->model))
            m = &w->models[i];
    known *k = m ? find_known(m, r->version) : NULL;
    if (!k || k->job != r->id)
        return; /* the version went away meanwhile: amld_loads_free drops the result */
    char *dir = aml_xasprintf("%s/%s/%d", w->opt->repo, m->name, r->version);
    k->job = 0;
    k->mtime_ns = r->mtime_ns;
    amld_version_release(k->loaded);
    k->loaded = r->loaded;
    r->loaded = NULL;
    if (k->loaded) {
        k->loaded->mtime_ns = r->mtime_ns;
        amld_log("loaded %s (%s, %lld features%s) in %.1f ms", dir, amld_model_kind(&k->loaded->art.model),
                 (long long)k->loaded->art.schema->n_features, k->loaded->ref ? ", drift reference" : "",
                 1e3 * r->seconds);
    } else {
        k->reason = r->reason;
        r->reason = NULL;
        amld_log("refused %s: %s (the previous versions keep serving; retried when its manifest.json changes)",
                 dir, k->reason);
        amld_metrics_load_failure(w->metrics, m->name);
    }
    free(dir);
}

/* Reads the model's version directories and their manifests' times (no artifact is opened here:
 * the watcher's thread never blocks on an artifact). */
static void scan_model(amld_watcher *w, wmodel *m)
{
    char *mdir = aml_xasprintf("%s/%s", w->opt->repo, m->name);
    int *versions = NULL, nv = 0, cap = 0;
    DIR *d = opendir(mdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int v = version_of(e->d_name); /* also skips '.'-prefixed (temporary) entries */
        if (v < 1)
            continue;
        char *vdir = aml_xasprintf("%s/%s", mdir, e->d_name);
        if (is_dir(vdir)) {
            if (nv == cap) {
                cap = cap ? 2 * cap : 16;
                versions = aml_xrealloc(versions, sizeof(int) * (size_t)cap);
            }
            versions[nv++] = v;
        }
        free(vdir);
    }
    if (d)
        closedir(d);
    if (nv > 1)
        qsort(versions, (size_t)nv, sizeof(int), cmp_desc);
    free(m->disk);
    m->disk = aml_xcalloc((size_t)nv + 1, sizeof *m->disk);
    m->n_disk = nv;
    for (int i = 0; i < nv; i++) {
        char *manifest = aml_xasprintf("%s/%d/manifest.json", mdir, versions[i]);
        int64_t mt = mtime_ns(manifest);
        free(manifest);
        m->disk[i] = (disk_version){versions[i], mt < 0 ? 0 : mt};
    }
    m->on_disk = nv > 0;
    free(versions);
    free(mdir);
}

static int on_disk(const wmodel *m, int v)
{
    for (int i = 0; i < m->n_disk; i++)
        if (m->disk[i].version == v)
            return 1;
    return 0;
}

/* Applies the policy to the versions on disk and what is known of them: queues the loads needed
 * and swaps the served set into the registry. With "latest n", a load in progress counts towards
 * n for starting others, but an older loaded version keeps serving until the new one is in. */
static void settle_model(amld_watcher *w, wmodel *m)
{
    amld_model_policy pol = amld_config_policy(&w->cfg, m->name);
    amld_version **served = aml_xcalloc((size_t)m->n_disk + 1, sizeof(amld_version *));
    int ns = 0, loading = 0;
    for (int i = 0; i < m->n_disk; i++) {
        int v = m->disk[i].version;
        int64_t mt = m->disk[i].mtime_ns;
        known *k = find_known(m, v);
        int settled = k && !k->job && k->mtime_ns == mt;
        if (settled && !k->loaded)
            continue; /* refused with this manifest */
        int has_copy = k && k->loaded;
        int wanted = pol.kind == AMLD_ALL ||
                     (pol.kind == AMLD_LATEST && (has_copy ? ns : ns + loading) < pol.n);
        for (int q = 0; pol.kind == AMLD_SPECIFIC && q < pol.n_versions; q++)
            wanted |= pol.versions[q] == v;
        if (!wanted)
            continue;
        if (!settled) {
            k = need_known(m, v);
            if (!k->job)
                queue_load(w, m, k, mt);
            loading += !has_copy;
        }
        if (has_copy) {
            amld_version_retain(k->loaded);
            served[ns++] = k->loaded;
        }
    }
    /* Forget versions gone from disk, and loaded ones the policy no longer serves (their last
     * request frees them); refusals are kept with their manifest time, loads in progress until
     * they finish. */
    for (int i = m->n - 1; i >= 0; i--) {
        int keep = on_disk(m, m->k[i].version) && (m->k[i].reason != NULL || m->k[i].job != 0);
        for (int s = 0; s < ns && !keep; s++)
            keep = served[s] == m->k[i].loaded;
        if (!keep)
            forget(m, i);
    }
    amld_refusal *refused = aml_xcalloc((size_t)m->n + 1, sizeof *refused);
    int nr = 0;
    for (int i = 0; i < m->n; i++)
        if (m->k[i].reason)
            refused[nr++] = (amld_refusal){m->k[i].version, m->k[i].reason};
    amld_buf list = {0};
    for (int s = 0; s < ns; s++)
        amld_buf_printf(&list, "%s%d", s ? ", " : "", served[s]->version);
    if (!list.s)
        amld_buf_puts(&list, "");
    if (!m->served || strcmp(m->served, list.s) != 0) {
        if (ns || m->served)
            amld_log("serving %s: %s%s (policy %s)", m->name, ns ? "versions " : "no version", list.s,
                     amld_policy_name(pol.kind));
        free(m->served);
        m->served = list.s;
        list.s = NULL;
    }
    amld_buf_free(&list);
    amld_registry_swap(w->reg, m->name, served, ns, pol.labels, pol.n_labels, refused, nr);
    free(refused);
}

static void wmodel_clear(wmodel *m)
{
    while (m->n > 0)
        forget(m, m->n - 1);
    free(m->k);
    free(m->disk);
    free(m->name);
    free(m->served);
}

static void scan_all(amld_watcher *w)
{
    reload_config(w);
    for (int i = 0; i < w->n_models; i++)
        w->models[i].on_disk = 0;
    DIR *d = opendir(w->opt->repo);
    if (!d) {
        amld_log("%s: cannot read the repository: %s", w->opt->repo, strerror(errno));
    }
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!amld_valid_name(e->d_name))
            continue;
        char *path = aml_xasprintf("%s/%s", w->opt->repo, e->d_name);
        int dir = is_dir(path);
        free(path);
        if (!dir)
            continue;
        wmodel *m = NULL;
        for (int i = 0; i < w->n_models && !m; i++)
            if (!strcmp(w->models[i].name, e->d_name))
                m = &w->models[i];
        if (!m) {
            if (w->n_models == w->cap_models) {
                w->cap_models = w->cap_models ? 2 * w->cap_models : 8;
                w->models = aml_xrealloc(w->models, sizeof *w->models * (size_t)w->cap_models);
            }
            m = &w->models[w->n_models++];
            memset(m, 0, sizeof *m);
            m->name = aml_xstrdup(e->d_name);
        }
        scan_model(w, m);
    }
    if (d)
        closedir(d);
    for (int i = 0; i < w->n_models; i++)
        if (w->models[i].on_disk)
            settle_model(w, &w->models[i]);
    /* Models whose directory is gone: unserve and forget them. */
    for (int i = w->n_models - 1; i >= 0; i--) {
        if (w->models[i].on_disk)
            continue;
        if (w->models[i].served && w->models[i].served[0])
            amld_log("serving %s: no version (its directory is gone or empty)", w->models[i].name);
        amld_registry_swap(w->reg, w->models[i].name, NULL, 0, NULL, 0, NULL, 0);
        wmodel_clear(&w->models[i]);
        w->models[i] = w->models[--w->n_models];
    }
}

static void load_done(void *arg)
{
    amld_watcher *w = arg;
    pthread_mutex_lock(&w->lock);
    w->loads_done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Applies the finished loads (and refusals at the time limit), then the policies again (a refused
 * latest version lets an older one be loaded), until no load is left to apply. Returns the next
 * time limit of a running load (aml_now() clock), 0 when none runs. */
static double collect_loads(amld_watcher *w)
{
    double deadline = 0;
    amld_load *r = NULL;
    int n;
    while ((n = amld_loader_collect(w->loader, &r, &deadline)) > 0) {
        for (int i = 0; i < n; i++)
            apply_load(w, &r[i]);
        /* Only the models these loads belong to change. */
        for (int m = 0; m < w->n_models; m++)
            for (int i = 0; i < n; i++)
                if (!strcmp(w->models[m].name, r[i].model)) {
                    settle_model(w, &w->models[m]);
                    break;
                }
        amld_loads_free(r, n);
    }
    free(r);
    return deadline;
}

static void *watch(void *arg)
{
    amld_watcher *w = arg;
    int ready = 0;
    double poll = w->opt->poll_seconds > 0 ? w->opt->poll_seconds : 86400.0, next_scan = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int scan = w->kicked || aml_now() >= next_scan;
        w->kicked = 0;
        w->loads_done = 0;
        pthread_mutex_unlock(&w->lock);
        if (scan) {
            scan_all(w);
            next_scan = aml_now() + poll;
        }
        double deadline = collect_loads(w);
        /* Ready once the first scan's loads have all finished, loaded or refused. */
        if (!ready && amld_loader_pending(w->loader) == 0) {
            amld_registry_set_ready(w->reg);
            ready = 1;
        }
        double wake = deadline > 0 && deadline < next_scan ? deadline : next_scan;
        pthread_mutex_lock(&w->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        double wait = wake - aml_now() + 0.001;
        if (wait < 0)
            wait = 0;
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!w->stop && !w->kicked && !w->loads_done)
            if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

aml_status amld_watcher_start(aml_ctx *c, const amld_options *opt, amld_config *cfg, aml_registry *plugins,
                              amld_registry *reg, amld_metrics *metrics, amld_watcher **out)
{
    amld_watcher *w = aml_xcalloc(1, sizeof *w);
    w->opt = opt;
    w->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    w->cfg_path = aml_xstrdup(opt->config);
    w->cfg_mtime = mtime_ns(opt->config);
    w->reg = reg;
    w->metrics = metrics;
    w->plugins = plugins;
    w->loader = amld_loader_new(plugins, opt->drift_window, opt->load_threads, opt->load_timeout, load_done, w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&w->thread, NULL, watch, w);
    if (rc != 0) {
        aml_status st = aml_fail(c, AML_ERR_RUNTIME, "cannot start the watcher thread: %s", strerror(rc));
        w->stop = -1;
        amld_watcher_stop(w);
        return st;
    }
    *out = w;
    return AML_OK;
}

void amld_watcher_kick(amld_watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->kicked = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int amld_watcher_stop(amld_watcher *w)
{
    if (!w)
        return 0;
    if (w->stop != -1) {
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    /* Loads still running get a second to finish; a stuck one keeps w (its thread notifies
     * through it) and the plugins: the process exits without freeing them. */
    int left = amld_loader_free(w->loader, 1.0);
    if (left > 0)
        return left;
    for (int i = 0; i < w->n_models; i++)
        wmodel_clear(&w->models[i]);
    free(w->models);
    amld_config_free(&w->cfg);
    free(w->cfg_path);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return 0;
}
