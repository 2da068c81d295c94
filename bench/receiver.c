/*
 * Line-counting StatsD backends for the benchmark.
 *
 * One process serves N backends on 127.0.0.1. Each backend has a UDP socket
 * that counts datagrams, lines and bytes, and a TCP admin port that speaks
 * enough of the StatsD admin protocol for Etsy's proxy.js health check
 * (the reply to "health" is "health: up"). The admin port also accepts:
 *   stats    -> {"datagrams": [...], "lines": [...], "bytes": [...]}
 *   latency  -> percentiles of the probe delays seen since the last reset
 *   reset    -> zero every counter and drop the latency samples
 * A probe line is "bench.probe.K:<CLOCK_MONOTONIC ns>|g"; its delay is the
 * receive time minus that timestamp. Both ends run on this machine, so one
 * monotonic clock serves both.
 *
 * Usage: receiver [--backends N] [--max-seconds S]
 * On start it prints {"udp": [ports], "admin": [ports]} on one line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BACKENDS 8
#define BATCH 64
#define DATAGRAM_MAX 65536
#define MAX_SAMPLES 400000
#define PROBE_PREFIX "bench.probe."

enum kind { UDP_SOCKET, ADMIN_LISTENER, ADMIN_CONNECTION };

struct endpoint {
    enum kind kind;
    int fd;
    int backend;
    char buffer[512];
    size_t used;
};

static uint64_t datagrams[MAX_BACKENDS], lines[MAX_BACKENDS], bytes_in[MAX_BACKENDS];
static uint64_t samples[MAX_SAMPLES];
static size_t n_samples;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int signum) {
    (void)signum;
    stopping = 1;
}

static int bind_socket(int type, uint16_t *port) {
    int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int size = 4 << 20;
    if (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size))) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("receiver: bind 127.0.0.1 failed");
        exit(2);
    }
    if (type == SOCK_STREAM && listen(fd, 64) != 0) {
        perror("receiver: listen failed");
        exit(2);
    }
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

static void watch(int epoll_fd, struct endpoint *endpoint) {
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = endpoint};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, endpoint->fd, &event);
}

/* Count the non-empty lines of one datagram and record probe delays. */
static void count_datagram(int backend, const char *data, size_t len, uint64_t received_ns) {
    const char *cursor = data;
    const char *end = data + len;
    size_t prefix_len = sizeof(PROBE_PREFIX) - 1;
    while (cursor < end) {
        const char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        const char *line_end = newline ? newline : end;
        if (line_end > cursor) {
            lines[backend]++;
            size_t line_len = (size_t)(line_end - cursor);
            if (line_len > prefix_len && memcmp(cursor, PROBE_PREFIX, prefix_len) == 0) {
                const char *colon = memchr(cursor, ':', line_len);
                if (colon != NULL && n_samples < MAX_SAMPLES) {
                    uint64_t sent = strtoull(colon + 1, NULL, 10);
                    samples[n_samples++] = received_ns > sent ? received_ns - sent : 0;
                }
            }
        }
        cursor = line_end + 1;
    }
}

static void drain_udp(struct endpoint *endpoint) {
    static char buffers[BATCH][DATAGRAM_MAX];
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    /* Bounded so that one busy socket cannot starve the admin ports. */
    for (int round = 0; round < 64; round++) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = buffers[i];
            iovs[i].iov_len = DATAGRAM_MAX;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(endpoint->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) {
            return;
        }
        uint64_t received_ns = now_ns();
        int backend = endpoint->backend;
        for (int i = 0; i < got; i++) {
            datagrams[backend]++;
            bytes_in[backend] += msgs[i].msg_len;
            count_datagram(backend, buffers[i], msgs[i].msg_len, received_ns);
        }
        if (got < BATCH) {
            return;
        }
    }
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(const uint64_t *sorted, size_t n, double q) {
    if (n == 0) {
        return -1;
    }
    size_t index = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)sorted[index] / 1000.0;
}

static int format_latency(char *out, size_t size, int n_backends) {
    (void)n_backends;
    uint64_t *sorted = malloc((n_samples + 1) * sizeof(uint64_t));
    memcpy(sorted, samples, n_samples * sizeof(uint64_t));
    qsort(sorted, n_samples, sizeof(uint64_t), compare_u64);
    int len = snprintf(out, size,
                       "{\"count\": %zu, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
                       "\"max_us\": %.1f}\n",
                       n_samples, percentile_us(sorted, n_samples, 0.5),
                       percentile_us(sorted, n_samples, 0.9),
                       percentile_us(sorted, n_samples, 0.99),
                       percentile_us(sorted, n_samples, 1.0));
    free(sorted);
    return len;
}

static int format_array(char *out, size_t size, const char *name, const uint64_t *values, int n) {
    int len = snprintf(out, size, "\"%s\": [", name);
    for (int i = 0; i < n; i++) {
        len += snprintf(out + len, size - (size_t)len, "%s%llu", i ? ", " : "",
                        (unsigned long long)values[i]);
    }
    len += snprintf(out + len, size - (size_t)len, "]");
    return len;
}

static void run_command(struct endpoint *endpoint, const char *command, int n_backends) {
    char out[1024];
    int len;
    if (strcmp(command, "health") == 0) {
        len = snprintf(out, sizeof(out), "health: up\n");
    } else if (strcmp(command, "stats") == 0) {
        len = snprintf(out, sizeof(out), "{");
        len += format_array(out + len, sizeof(out) - (size_t)len, "datagrams", datagrams,
                            n_backends);
        len += snprintf(out + len, sizeof(out) - (size_t)len, ", ");
        len += format_array(out + len, sizeof(out) - (size_t)len, "lines", lines, n_backends);
        len += snprintf(out + len, sizeof(out) - (size_t)len, ", ");
        len += format_array(out + len, sizeof(out) - (size_t)len, "bytes", bytes_in, n_backends);
        len += snprintf(out + len, sizeof(out) - (size_t)len, "}\n");
    } else if (strcmp(command, "latency") == 0) {
        len = format_latency(out, sizeof(out), n_backends);
    } else if (strcmp(command, "reset") == 0) {
        memset(datagrams, 0, sizeof(datagrams));
        memset(lines, 0, sizeof(lines));
        memset(bytes_in, 0, sizeof(bytes_in));
        n_samples = 0;
        len = snprintf(out, sizeof(out), "ok\n");
    } else if (command[0] == '\0') {
        return;
    } else {
        len = snprintf(out, sizeof(out), "ERROR\n");
    }
    if (write(endpoint->fd, out, (size_t)len) < 0) {
        return;
    }
}

/* Read admin commands; returns 0 once the peer has closed the connection. */
static int serve_admin(struct endpoint *endpoint, int n_backends) {
    size_t room = sizeof(endpoint->buffer) - 1 - endpoint->used;
    ssize_t got = read(endpoint->fd, endpoint->buffer + endpoint->used, room);
    if (got <= 0) {
        return got < 0 && errno == EAGAIN;
    }
    endpoint->used += (size_t)got;
    endpoint->buffer[endpoint->used] = '\0';
    char *start = endpoint->buffer;
    char *newline;
    while ((newline = strchr(start, '\n')) != NULL) {
        *newline = '\0';
        if (newline > start && newline[-1] == '\r') {
            newline[-1] = '\0';
        }
        run_command(endpoint, start, n_backends);
        start = newline + 1;
    }
    endpoint->used = strlen(start);
    memmove(endpoint->buffer, start, endpoint->used);
    /* A full buffer without a newline is not a command: drop it. */
    if (endpoint->used == sizeof(endpoint->buffer) - 1) {
        endpoint->used = 0;
    }
    return 1;
}

static void accept_admin(int epoll_fd, struct endpoint *listener) {
    int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) {
        return;
    }
    struct endpoint *connection = calloc(1, sizeof(*connection));
    connection->kind = ADMIN_CONNECTION;
    connection->fd = fd;
    connection->backend = listener->backend;
    watch(epoll_fd, connection);
}

int main(int argc, char **argv) {
    int n_backends = 3;
    unsigned max_seconds = 3600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backends") == 0) {
            n_backends = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--max-seconds") == 0) {
            max_seconds = (unsigned)atoi(argv[i + 1]);
        }
    }
    if (n_backends < 1 || n_backends > MAX_BACKENDS) {
        fprintf(stderr, "receiver: --backends must be 1 to %d\n", MAX_BACKENDS);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    alarm(max_seconds);

    int epoll_fd = epoll_create1(0);
    struct endpoint endpoints[2 * MAX_BACKENDS];
    uint16_t udp_ports[MAX_BACKENDS], admin_ports[MAX_BACKENDS];
    for (int b = 0; b < n_backends; b++) {
        struct endpoint *udp = &endpoints[2 * b];
        struct endpoint *admin = &endpoints[2 * b + 1];
        memset(udp, 0, sizeof(*udp));
        memset(admin, 0, sizeof(*admin));
        udp->kind = UDP_SOCKET;
        udp->backend = b;
        udp->fd = bind_socket(SOCK_DGRAM, &udp_ports[b]);
        admin->kind = ADMIN_LISTENER;
        admin->backend = b;
        admin->fd = bind_socket(SOCK_STREAM, &admin_ports[b]);
        watch(epoll_fd, udp);
        watch(epoll_fd, admin);
    }
    printf("{\"udp\": [");
    for (int b = 0; b < n_backends; b++) {
        printf("%s%u", b ? ", " : "", udp_ports[b]);
    }
    printf("], \"admin\": [");
    for (int b = 0; b < n_backends; b++) {
        printf("%s%u", b ? ", " : "", admin_ports[b]);
    }
    printf("]}\n");
    fflush(stdout);

    struct epoll_event events[32];
    while (!stopping) {
        int ready = epoll_wait(epoll_fd, events, 32, 200);
        for (int i = 0; i < ready; i++) {
            struct endpoint *endpoint = events[i].data.ptr;
            if (endpoint->kind == UDP_SOCKET) {
                drain_udp(endpoint);
            } else if (endpoint->kind == ADMIN_LISTENER) {
                accept_admin(epoll_fd, endpoint);
            } else if (!serve_admin(endpoint, n_backends)) {
                epoll_ctl(epoll_fd, EPOLL_CTL_DEL, endpoint->fd, NULL);
                close(endpoint->fd);
                free(endpoint);
            }
        }
    }
    return 0;
}
