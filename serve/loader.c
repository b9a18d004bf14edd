/* Version loads off the watcher's thread: each load runs in its own thread, a few at a time, under
 * a time limit. A load past its limit is refused and abandoned (a thread blocked in a read cannot be
 * stopped safely; it frees what it loaded when it returns), so no artifact, however slow or stuck,
 * delays another model or the daemon's exit. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { QUEUED, RUNNING, DONE, ABANDONED };

typedef struct job {
    struct job *next;
    amld_loader *l;
    uint64_t id;
    char *dir, *model;
    int version;
    int64_t mtime_ns;
    int state;
    double started;
    amld_version *loaded; /* DONE: the version, or NULL with reason */
    char *reason;
} job;

struct amld_loader {
    pthread_mutex_t lock;
    pthread_cond_t idle;   /* signalled when a thread ends */
    aml_registry *plugins;
    int drift_window, max_active;
    double timeout;
    void (*notify)(void *);
    void *arg;
    job *jobs;             /* queued, running and done; abandoned ones belong to their thread */
    int active;            /* running within their time limit */
    int threads;           /* running, abandoned ones included */
    uint64_t next_id;
};

amld_loader *amld_loader_new(aml_registry *plugins, int drift_window, int max_active, double timeout,
                             void (*notify)(void *), void *arg)
{
    amld_loader *l = aml_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->idle, NULL);
    l->plugins = plugins;
    l->drift_window = drift_window;
    l->max_active = max_active > 0 ? max_active : 1;
    l->timeout = timeout;
    l->notify = notify;
    l->arg = arg;
    return l;
}

static void job_free(job *j)
{
    amld_version_release(j->loaded);
    free(j->reason);
    free(j->dir);
    free(j->model);
    free(j);
}

uint64_t amld_loader_submit(amld_loader *l, const char *dir, const char *model, int version, int64_t mtime_ns)
{
    job *j = aml_xcalloc(1, sizeof *j);
    j->l = l;
    j->dir = aml_xstrdup(dir);
    j->model = aml_xstrdup(model);
    j->version = version;
    j->mtime_ns = mtime_ns;
    pthread_mutex_lock(&l->lock);
    j->id = ++l->next_id;
    job **tail = &l->jobs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    pthread_mutex_unlock(&l->lock);
    return j->id;
}

static void *run(void *arg)
{
    job *j = arg;
    amld_loader *l = j->l;
    aml_ctx c = {{0}};
    amld_version *v = amld_version_load(&c, l->plugins, j->dir, j->model, j->version, l->drift_window);
    pthread_mutex_lock(&l->lock);
    int abandoned = j->state == ABANDONED;
    if (!abandoned) {
        j->loaded = v;
        j->reason = v ? NULL : aml_xstrdup(c.msg[0] ? c.msg : "unknown error");
        j->state = DONE;
        l->active--;
    }
    pthread_mutex_unlock(&l->lock);
    if (abandoned) {
        /* Refused at its time limit: nobody waits for it any more. */
        amld_version_release(v);
        job_free(j);
    } else {
        l->notify(l->arg);
    }
    pthread_mutex_lock(&l->lock);
    l->threads--;
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* Starts queued jobs while fewer than max_active run (lock held). */
static void start_queued(amld_loader *l, double now)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (job *j = l->jobs; j && l->active < l->max_active; j = j->next) {
        if (j->state != QUEUED)
            continue;
        j->state = RUNNING;
        j->started = now;
        pthread_t t;
        int rc = pthread_create(&t, &attr, run, j);
        if (rc != 0) {
            j->state = DONE;
            j->reason = aml_xasprintf("%s: cannot start a loader thread: %s", j->dir, strerror(rc));
            continue;
        }
        l->active++;
        l->threads++;
    }
    pthread_attr_destroy(&attr);
}

int amld_loader_collect(amld_loader *l, amld_load **out, double *next_deadline)
{
    double now = aml_now();
    amld_load *res = NULL;
    int n = 0, cap = 0;
    *next_deadline = 0;
    pthread_mutex_lock(&l->lock);
    for (job **p = &l->jobs; *p;) {
        job *j = *p;
        int overdue = j->state == RUNNING && now - j->started >= l->timeout;
        if (j->state != DONE && !overdue) {
            p = &j->next;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            res = aml_xrealloc(res, sizeof *res * (size_t)cap);
        }
        amld_load *r = &res[n++];
        *r = (amld_load){.model = aml_xstrdup(j->model), .version = j->version, .mtime_ns = j->mtime_ns,
                         .id = j->id, .seconds = now - j->started};
        *p = j->next;
        if (overdue) {
            /* The thread keeps the job and frees it when (if) the load returns. */
            j->state = ABANDONED;
            l->active--;
            r->timed_out = 1;
            r->reason = aml_xasprintf("%s: loading took longer than %g s (--load-timeout); the load was abandoned",
                                      j->dir, l->timeout);
        } else {
            r->loaded = j->loaded;
            r->reason = j->reason;
            j->loaded = NULL;
            j->reason = NULL;
            job_free(j);
        }
    }
    start_queued(l, now);
    for (job *j = l->jobs; j; j = j->next)
        if (j->state == RUNNING && (*next_deadline == 0 || j->started + l->timeout < *next_deadline))
            *next_deadline = j->started + l->timeout;
    pthread_mutex_unlock(&l->lock);
    *out = res;
    return n;
}

int amld_loader_pending(amld_loader *l)
{
    int n = 0;
    pthread_mutex_lock(&l->lock);
    for (job *j = l->jobs; j; j = j->next)
        n++;
    pthread_mutex_unlock(&l->lock);
    return n;
}

void amld_loads_free(amld_load *r, int n)
{
    for (int i = 0; i < n; i++) {
        amld_version_release(r[i].loaded);
        free(r[i].reason);
        free(r[i].model);
    }
    free(r);
}

int amld_loader_free(amld_loader *l, double grace)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->lock);
    while (l->jobs) {
        job *j = l->jobs;
        l->jobs = j->next;
        if (j->state == RUNNING)
            j->state = ABANDONED; /* its thread frees it */
        else
            job_free(j);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)grace;
    while (l->threads > 0)
        if (pthread_cond_timedwait(&l->idle, &l->lock, &until) != 0)
            break;
    int left = l->threads;
    pthread_mutex_unlock(&l->lock);
    if (left > 0)
        return left; /* the threads still use l and the plugins: the caller exits without freeing */
    pthread_cond_destroy(&l->idle);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return 0;
}
