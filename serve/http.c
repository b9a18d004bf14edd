/* The HTTP layer on libmicrohttpd (epoll, a thread pool): body accumulation under the size
 * limit, the bearer token, routing to the KServe, TF Serving and metrics handlers, one metrics
 * record per request, and draining on shutdown. */
#include "serve.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct amld_http {
    struct MHD_Daemon *d;
    amld_server *s;
    atomic_int inflight;
    atomic_int draining;
};

typedef struct pending {
    amld_buf body;
    int too_large;
    int unauthorized; /* answered 401 once the body (dropped) is in */
    double t0;
} pending;

static int authorized(amld_http *h, struct MHD_Connection *con)
{
    const char *token = h->s->opt->token;
    if (!token)
        return 1;
    const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *given = auth + 7;
    size_t n = strlen(token), m = strlen(given);
    /* Compare in constant time over the token's length. */
    unsigned diff = (unsigned)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_reply(amld_http *h, struct MHD_Connection *con, pending *q, amld_reply *r)
{
    struct MHD_Response *resp;
    if (r->body.len)
        resp = MHD_create_response_from_buffer(r->body.len, r->body.s, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        amld_buf_free(&r->body);
        return MHD_NO;
    }
    if (r->body.len) {
        r->body.s = NULL; /* MHD owns it now */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "application/json");
    }
    if (r->code == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (atomic_load(&h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)r->code, resp);
    MHD_destroy_response(resp);
    amld_metrics_request(h->s->metrics, r->model, r->version, r->code, aml_now() - q->t0, r->rows);
    amld_buf_free(&r->body);
    return ret;
}

static void dispatch(amld_http *h, const char *method, const char *url, pending *q, amld_reply *r)
{
    amld_server *s = h->s;
    const char *body = q->body.s ? q->body.s : "";
    if (!strcmp(url, "/metrics")) {
        if (strcmp(method, "GET") != 0) {
            amld_reply_error(r, 405, "%s /metrics: method not allowed (use GET)", method);
            return;
        }
        amld_metrics_expose(s->metrics, s->reg, &r->body);
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        r->code = 200;
    } else if (!strncmp(url, "/v2", 3) && (url[3] == 0 || url[3] == '/')) {
        amld_kserve_handle(s, method, url, body, q->body.len, r);
    } else if (!strncmp(url, "/v1/", 4)) {
        amld_tfserving_handle(s, method, url, body, q->body.len, r);
    } else {
        amld_reply_error(r, 404, "no route for %s %s", method, url);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    amld_http *h = cls;
    pending *q = *con_cls;
    amld_reply r = {.version = -1};
    if (!q) {
        q = aml_xcalloc(1, sizeof *q);
        q->t0 = aml_now();
        *con_cls = q;
        atomic_fetch_add(&h->inflight, 1);
        /* Without the token the body is dropped as it arrives and the reply is a 401 (the
         * health probes stay open for orchestrators). */
        int probe = !strcmp(url, "/v2/health/live") || !strcmp(url, "/v2/health/ready");
        if (!probe && !authorized(h, con))
            q->unauthorized = 1;
        /* A body over the limit is read and dropped, then answered with 413: answering before
         * the client has sent it makes most clients see a reset instead of the reply. Only a
         * body far over the limit is refused at once (and the connection closed). */
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
        if (announced > h->s->opt->max_body) {
            q->too_large = 1;
            if (announced / 16 > h->s->opt->max_body) {
                amld_reply_error(&r, 413, "request body of %llu bytes is over the limit of %zu bytes (--max-body)",
                                 announced, h->s->opt->max_body);
                return send_reply(h, con, q, &r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (q->unauthorized) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (!q->too_large && q->body.len + *upload_data_size > h->s->opt->max_body) {
            q->too_large = 1;
            amld_buf_free(&q->body);
        }
        if (!q->too_large)
            amld_buf_put(&q->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->unauthorized)
        amld_reply_error(&r, 401, "missing or invalid bearer token (send Authorization: Bearer TOKEN)");
    else if (q->too_large)
        amld_reply_error(&r, 413, "request body is over the limit of %zu bytes (--max-body)", h->s->opt->max_body);
    else
        dispatch(h, method, url, q, &r);
    return send_reply(h, con, q, &r);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    amld_http *h = cls;
    pending *q = *con_cls;
    if (!q)
        return;
    amld_buf_free(&q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&h->inflight, 1);
}

aml_status amld_http_start(aml_ctx *c, amld_server *s, amld_http **out)
{
    const amld_options *opt = s->opt;
    struct sockaddr_storage addr = {0};
    int ipv6 = strchr(opt->host, ':') != NULL;
    if (ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt->port);
        if (inet_pton(AF_INET6, opt->host, &a6->sin6_addr) != 1)
            return aml_fail(c, AML_ERR_INPUT, "--host: '%s' is not an IPv4 or IPv6 address", opt->host);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt->port);
        if (inet_pton(AF_INET, opt->host, &a4->sin_addr) != 1)
            return aml_fail(c, AML_ERR_INPUT, "--host: '%s' is not an IPv4 or IPv6 address", opt->host);
    }
    amld_http *h = aml_xcalloc(1, sizeof *h);
    h->s = s;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_CONNECTION_LIMIT, opt->max_connections, NULL},
        /* One client cannot hold every connection (slow or idle ones included), and a connection
         * that goes silent, in its headers, its body or between requests, is closed. */
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_client_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, opt->client_timeout, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {opt->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, opt->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return aml_fail(c, AML_ERR_IO, "cannot listen on %s:%d (address in use, or not permitted)", opt->host,
                        opt->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    amld_log("listening on %s%s%s:%u", ipv6 ? "[" : "", opt->host, ipv6 ? "]" : "",
             info ? (unsigned)info->port : (unsigned)opt->port);
    *out = h;
    return AML_OK;
}

void amld_http_drain(amld_http *h, double grace)
{
    if (!h)
        return;
    atomic_store(&h->draining, 1);
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    double until = aml_now() + grace;
    while (atomic_load(&h->inflight) > 0 && aml_now() < until) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&h->inflight);
    if (left > 0)
        amld_log("stopping with %d request(s) still in flight after %.0f s", left, grace);
    MHD_stop_daemon(h->d);
    free(h);
}
