/* http_client.h - a small blocking HTTP/1.1 client over loopback sockets, for the serve tests
 * and bench/bench_serve.c: keep-alive connections, Content-Length bodies, optional
 * "Expect: 100-continue" and chunked uploads. Header-only (static functions). */
#ifndef PETAL_TESTS_HTTP_CLIENT_H
#define PETAL_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct http_reply {
    int status; /* 0 when no answer was read */
    char headers[4096];
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
    int closed; /* the server closes the connection after this answer */
} http_reply;

typedef struct http_conn {
    int port;
    int fd; /* -1 when not connected */
    char buf[65536];
    size_t have; /* bytes read but not consumed */
} http_conn;

static inline void http_reply_free(http_reply *r)
{
    free(r->body);
    r->body = NULL;
}

static inline int http_connect(http_conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {60, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->have = 0;
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static inline void http_close(http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->have = 0;
}

/* Sends all bytes; -1 if the peer closed or failed. */
static inline int http_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer; returns the count, 0 at EOF, -1 on error. */
static inline ssize_t http_fill(http_conn *c)
{
    if (c->have == sizeof c->buf)
        return -1;
    ssize_t n;
    do
        n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        c->have += (size_t)n;
    return n;
}

static inline void http_consume(http_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->have - n);
    c->have -= n;
}

/* Reads one response (status line, headers, body by Content-Length or to EOF). */
static inline int http_read_reply(http_conn *c, http_reply *r)
{
    char *end;
    for (;;) {
        end = c->have ? memmem(c->buf, c->have, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        if (http_fill(c) <= 0)
            return -1;
    }
    size_t head = (size_t)(end - c->buf) + 4;
    size_t copy = head < sizeof r->headers ? head : sizeof r->headers - 1;
    memcpy(r->headers, c->buf, copy);
    r->headers[copy] = '\0';
    http_consume(c, head);
    if (sscanf(r->headers, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    if (r->status == 100) /* interim answer: the final one follows */
        return http_read_reply(c, r);

    long length = -1;
    for (char *line = strstr(r->headers, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Content-Length:", 15))
            length = strtol(line + 17, NULL, 10);
        if (!strncasecmp(line + 2, "Connection: close", 17))
            r->closed = 1;
    }
    size_t cap = length >= 0 ? (size_t)length + 1 : 65536;
    r->body = malloc(cap);
    r->len = 0;
    for (;;) {
        size_t take = c->have;
        if (length >= 0 && take > (size_t)length - r->len)
            take = (size_t)length - r->len;
        if (r->len + take + 1 > cap) {
            cap = (r->len + take + 1) * 2;
            r->body = realloc(r->body, cap);
        }
        memcpy(r->body + r->len, c->buf, take);
        r->len += take;
        http_consume(c, take);
        if (length >= 0 && r->len == (size_t)length)
            break;
        ssize_t n = http_fill(c);
        if (n == 0 && length < 0)
            break;
        if (n <= 0) {
            r->closed = 1;
            if (length >= 0)
                return -1;
            break;
        }
    }
    r->body[r->len] = '\0';
    return 0;
}

/* Sends one request on c (connecting if needed) and reads the answer. extra_headers are full
 * "Name: value\r\n" lines or NULL. chunked: send the body with Transfer-Encoding: chunked
 * instead of a Content-Length.
 * Returns 0 with *r filled, or -1 when no answer could be read. */
static inline int http_request(http_conn *c, const char *method, const char *path,
                               const char *extra_headers, const void *body, size_t len, int chunked,
                               http_reply *r)
{
    memset(r, 0, sizeof *r);
    if (c->fd < 0 && http_connect(c) != 0)
        return -1;
    char head[2048];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s", method, path,
                     extra_headers ? extra_headers : "");
    if (body != NULL && chunked)
        n += snprintf(head + n, sizeof head - (size_t)n, "Transfer-Encoding: chunked\r\n");
    else if (body != NULL)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (http_send_all(c->fd, head, (size_t)n) != 0)
        goto fail;
    if (body != NULL && chunked) {
        const char *p = body;
        size_t left = len;
        while (left > 0) {
            size_t chunk = left < 65536 ? left : 65536;
            char size_line[32];
            int m = snprintf(size_line, sizeof size_line, "%zx\r\n", chunk);
            if (http_send_all(c->fd, size_line, (size_t)m) != 0 ||
                http_send_all(c->fd, p, chunk) != 0 || http_send_all(c->fd, "\r\n", 2) != 0)
                break; /* the server may answer early; read what it said */
            p += chunk;
            left -= chunk;
        }
        if (left == 0)
            http_send_all(c->fd, "0\r\n\r\n", 5);
    } else if (body != NULL && len > 0) {
        http_send_all(c->fd, body, len); /* an early answer is read below */
    }
    if (http_read_reply(c, r) != 0)
        goto fail;
    if (r->closed)
        http_close(c);
    return 0;
fail:
    http_close(c);
    return -1;
}

/* A request with "Expect: 100-continue": waits for the interim answer before sending the
 * body, as curl does for large uploads, so an early 413 arrives without an upload. */
static inline int http_request_expect(http_conn *c, const char *path, const char *extra_headers,
                                      const void *body, size_t len, http_reply *r)
{
    memset(r, 0, sizeof *r);
    if (c->fd < 0 && http_connect(c) != 0)
        return -1;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n"
                     "Expect: 100-continue\r\n\r\n",
                     path, extra_headers ? extra_headers : "", len);
    if (http_send_all(c->fd, head, (size_t)n) != 0)
        goto fail;
    char *end;
    for (;;) {
        end = c->have ? memmem(c->buf, c->have, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        if (http_fill(c) <= 0)
            goto fail;
    }
    if (strncmp(c->buf + 9, "100", 3) == 0) {
        http_consume(c, (size_t)(end - c->buf) + 4);
        http_send_all(c->fd, body, len);
    }
    if (http_read_reply(c, r) != 0)
        goto fail;
    if (r->closed)
        http_close(c);
    return 0;
fail:
    http_close(c);
    return -1;
}

#endif
