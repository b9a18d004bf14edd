/* automld: serves every model of a repository over HTTP (KServe v2, TF Serving REST, Prometheus
 * metrics). This file reads the options, starts the watcher and the HTTP server, and turns
 * signals into actions: SIGHUP rescans, SIGTERM/SIGINT drain and exit 0. */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: automld --repo DIR [--port P] [--host ADDR] [--poll SECONDS] [--config FILE]\n"
            "               [--token-file PATH | --token TOKEN] [--max-body BYTES] [--max-rows N]\n"
            "               [--max-connections N] [--max-client-connections N] [--client-timeout SECONDS]\n"
            "               [--load-timeout SECONDS] [--load-threads N] [--threads N] [--drift-window N]\n"
            "               [--drift-min-rows N]\n\n"
            "Serves every model under DIR/<model>/<version>/ (artifacts written by automl search/train),\n"
            "loading new versions in the background and swapping them in atomically.\n"
            "  --repo DIR            the model repository (required)\n"
            "  --port P              TCP port (default 8080; 0 picks a free one, printed on stderr)\n"
            "  --host ADDR           address to bind (default 127.0.0.1)\n"
            "  --poll SECONDS        rescan interval (default 2; 0 = only on SIGHUP)\n"
            "  --config FILE         version policies and labels (default DIR/automld.json, optional):\n"
            "                        {\"models\": {\"wine\": {\"policy\": \"latest\", \"n\": 2,\n"
            "                                              \"labels\": {\"stable\": 1, \"canary\": 2}}}}\n"
            "                        policy: \"latest\" (with n, default 1) | \"all\" | \"specific\" (with\n"
            "                        \"versions\": [..]); the file is re-read when it changes\n"
            "  --token-file PATH     require Authorization: Bearer TOKEN, TOKEN being the file's first line\n"
            "                        (or set AUTOMLD_TOKEN); the health probes /v2/health/live and\n"
            "                        /v2/health/ready stay open\n"
            "  --token TOKEN         the same with the token on the command line, where every user of the\n"
            "                        machine sees it (ps, /proc): prefer --token-file\n"
            "  --max-body BYTES      request body limit (default 8388608)\n"
            "  --max-rows N          rows per request (default 10000)\n"
            "  --max-connections N   concurrent connections (default 1024)\n"
            "  --max-client-connections N\n"
            "                        concurrent connections from one client address (default 64); raise it\n"
            "                        when many clients share an address (a proxy, NAT)\n"
            "  --client-timeout SECONDS\n"
            "                        a connection that sends nothing for this long, while sending its\n"
            "                        headers or body or idle between requests, is closed (default 15)\n"
            "  --load-timeout SECONDS\n"
            "                        a version that takes longer to load is refused (default 120)\n"
            "  --load-threads N      versions loaded at once (default 4)\n"
            "  --threads N           HTTP worker threads (default: the number of cores)\n"
            "  --drift-window N      served rows per drift window (default 1000)\n"
            "  --drift-min-rows N    rows the window must hold before the PSI gauges are published\n"
            "                        (default 500, at most --drift-window): PSI of n rows drawn from the\n"
            "                        training distribution itself is about (bins - 1) / n, 0.018 on 500\n"
            "                        rows against the 0.1 warn and 0.25 alert thresholds\n"
            "API: /v2/health/live, /v2/health/ready, /v2, /v2/models/M[/versions/V][/ready|/infer],\n"
            "/v1/models/M[/versions/V|/labels/L][:predict], /metrics. Signals: SIGHUP rescans now,\n"
            "SIGTERM drains requests in flight and exits 0.\n");
}

static int parse_int(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "automld: %s: expected an integer in [%lld, %lld], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads the bearer token from a file (so that it is not in the command line, which every user
 * sees in ps): a regular file of at most 4 KiB, one line; the trailing newline is dropped. */
static int read_token(const char *path, char **out)
{
    aml_ctx c = {{0}};
    char *text = NULL;
    size_t len = 0;
    if (amld_read_regular_file(&c, path, 4096, &text, &len) != AML_OK) {
        fprintf(stderr, "automld: --token-file: %s\n", c.msg);
        return -1;
    }
    if (!text) {
        fprintf(stderr, "automld: --token-file: %s: cannot open: %s\n", path, strerror(ENOENT));
        return -1;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = 0;
    const char *why = len == 0 ? "the file is empty" : NULL;
    size_t bad = 0;
    for (size_t i = 0; i < len && !why; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            why = "a control character";
            bad = i + 1;
        }
    if (why) {
        if (bad)
            fprintf(stderr, "automld: --token-file: %s: byte %zu is %s (expected the token on one line)\n", path,
                    bad, why);
        else
            fprintf(stderr, "automld: --token-file: %s: %s (expected the token on one line)\n", path, why);
        explicit_bzero(text, len);
        free(text);
        return -1;
    }
    *out = text;
    return 0;
}

static int parse_options(int argc, char **argv, amld_options *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (amld_options){.host = "127.0.0.1",
                        .port = 8080,
                        .poll_seconds = 2.0,
                        .token = getenv("AUTOMLD_TOKEN"),
                        .max_body = 8u << 20,
                        .max_rows = 10000,
                        .max_connections = 1024,
                        .max_client_connections = 64,
                        .client_timeout = 15,
                        .load_timeout = 120,
                        .load_threads = 4,
                        .threads = cores > 0 ? (int)cores : 1,
                        .drift_window = 1000,
                        .drift_min_rows = AMLD_DRIFT_MIN_ROWS};
    if (o->token && !*o->token)
        o->token = NULL;
    int token_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (a[0] != '-' || i + 1 >= argc) {
            fprintf(stderr, "automld: %s '%s' (see automld --help)\n",
                    a[0] == '-' ? "option needs a value:" : "unexpected argument", a);
            return -1;
        }
        const char *v = argv[++i];
        long long x = 0;
        if (!strcmp(a, "--repo"))
            o->repo = v;
        else if (!strcmp(a, "--host"))
            o->host = v;
        else if (!strcmp(a, "--config")) {
            o->config = v;
            o->config_explicit = 1;
        } else if (!strcmp(a, "--token")) {
            o->token = v;
            token_given = 1;
        } else if (!strcmp(a, "--token-file"))
            o->token_file = v;
        else if (!strcmp(a, "--max-client-connections")) {
            if (parse_int(a, v, 1, 1000000, &x))
                return -1;
            o->max_client_connections = (int)x;
        } else if (!strcmp(a, "--client-timeout")) {
            if (parse_int(a, v, 1, 3600, &x))
                return -1;
            o->client_timeout = (int)x;
        } else if (!strcmp(a, "--load-timeout")) {
            if (parse_int(a, v, 1, 86400, &x))
                return -1;
            o->load_timeout = (int)x;
        } else if (!strcmp(a, "--load-threads")) {
            if (parse_int(a, v, 1, 256, &x))
                return -1;
            o->load_threads = (int)x;
        }
        else if (!strcmp(a, "--poll")) {
            char *end;
            o->poll_seconds = strtod(v, &end);
            if (end == v || *end || !(o->poll_seconds >= 0 && o->poll_seconds <= 86400)) {
                fprintf(stderr, "automld: --poll: expected seconds in [0, 86400], got '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--port")) {
            if (parse_int(a, v, 0, 65535, &x))
                return -1;
            o->port = (int)x;
        } else if (!strcmp(a, "--max-body")) {
            if (parse_int(a, v, 1, 1LL << 34, &x))
                return -1;
            o->max_body = (size_t)x;
        } else if (!strcmp(a, "--max-rows")) {
            if (parse_int(a, v, 1, 100000000, &x))
                return -1;
            o->max_rows = x;
        } else if (!strcmp(a, "--max-connections")) {
            if (parse_int(a, v, 1, 1000000, &x))
                return -1;
            o->max_connections = (int)x;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int(a, v, 1, 1024, &x))
                return -1;
            o->threads = (int)x;
        } else if (!strcmp(a, "--drift-window")) {
            if (parse_int(a, v, 1, 10000000, &x))
                return -1;
            o->drift_window = (int)x;
        } else if (!strcmp(a, "--drift-min-rows")) {
            if (parse_int(a, v, 1, 10000000, &x))
                return -1;
            o->drift_min_rows = (int)x;
        } else {
            fprintf(stderr, "automld: unknown option '%s' (see automld --help)\n", a);
            return -1;
        }
    }
    if (!o->repo) {
        usage(stderr);
        return -1;
    }
    if (o->drift_min_rows > o->drift_window) {
        fprintf(stderr, "automld: --drift-min-rows %d exceeds --drift-window %d: the drift gauges would never "
                "appear; lower --drift-min-rows (PSI noise on n rows is about (bins - 1) / n)\n",
                o->drift_min_rows, o->drift_window);
        return -1;
    }
    if (o->token_file && token_given) {
        fprintf(stderr, "automld: --token and --token-file: give one of them\n");
        return -1;
    }
    if (o->token_file && read_token(o->token_file, &o->token_buf) != 0)
        return -1;
    if (o->token_buf)
        o->token = o->token_buf;
    return 0;
}

int main(int argc, char **argv)
{
    amld_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc)
        return rc > 0 ? 0 : 2;
    char *default_config = NULL;
    if (!opt.config)
        opt.config = default_config = aml_xasprintf("%s/automld.json", opt.repo);
    /* Signals are taken synchronously by this thread; every thread started below inherits the
     * mask. A client that goes away must not kill the daemon with SIGPIPE. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    aml_ctx c = {{0}};
    amld_config cfg = {0};
    amld_registry *reg = amld_registry_new();
    amld_metrics *metrics = amld_metrics_new(opt.drift_min_rows);
    amld_watcher *w = NULL;
    amld_http *http = NULL;
    aml_registry *plugins = aml_registry_new();
    int status = 1;
    if (amld_config_load(&c, opt.config, opt.config_explicit, &cfg) != AML_OK) {
        amld_log("%s", c.msg);
        status = 2;
        goto done;
    }
    amld_server server = {.opt = &opt, .reg = reg, .metrics = metrics};
    if (amld_http_start(&c, &server, &http) != AML_OK) {
        amld_log("%s", c.msg);
        goto done;
    }
    aml_registry_scan_defaults(plugins);
    for (int i = 0; i < aml_registry_refusal_count(plugins); i++)
        amld_log("plugin refused: %s", aml_registry_refusal(plugins, i));
    if (amld_watcher_start(&c, &opt, &cfg, plugins, reg, metrics, &w) != AML_OK) {
        amld_log("%s", c.msg);
        goto done;
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            amld_log("SIGHUP: rescanning %s", opt.repo);
            amld_watcher_kick(w);
            continue;
        }
        amld_log("%s: draining requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    status = 0;
done:
    amld_http_drain(http, 30.0);
    int stuck = amld_watcher_stop(w);
    if (stuck > 0) {
        /* A load blocked in a read (a FIFO, a hung mount) holds the plugins: exit without freeing. */
        amld_log("stopped (abandoning %d version load(s) still running)", stuck);
        fflush(stderr);
        _exit(status);
    }
    /* Versions hold their model plugin's code: the plugins go last. */
    amld_registry_free(reg);
    aml_registry_free(plugins);
    amld_metrics_free(metrics);
    amld_config_free(&cfg);
    free(default_config);
    if (opt.token_buf)
        explicit_bzero(opt.token_buf, strlen(opt.token_buf));
    free(opt.token_buf);
    if (status == 0)
        amld_log("stopped");
    return status;
}
