/*
 * Paced StatsD load generator for the benchmark.
 *
 * Reads newline-separated StatsD lines from a file, packs them into datagrams
 * of a fixed number of lines, and sends them with sendmmsg(2) at a fixed line
 * rate for a bounded time and count. Every 1/probe-rate seconds it also sends
 * a one-line probe datagram "bench.probe.K:<CLOCK_MONOTONIC ns>|g", which the
 * receivers turn into a latency sample. Prints one JSON object on exit.
 *
 * Usage: sender --file PATH --lines-per-datagram N --rate LINES_PER_S
 *               --duration S [--max-lines N] [--probe-rate PER_S]
 *               --dest HOST:PORT [--dest HOST:PORT ...]
 * Several --dest values receive datagrams round-robin. Only IPv4 literals are
 * accepted, and the harness passes only 127.0.0.0/8 addresses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DESTS 16
#define BATCH 64
#define PROBE_NAMES 8

struct datagram {
    char *data;
    size_t len;
    unsigned lines;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(double deadline) {
    double secs = deadline - now_s();
    if (secs <= 0) {
        return;
    }
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
}

static void die(const char *message, const char *value) {
    fprintf(stderr, "sender: %s: %s\n", message, value);
    exit(2);
}

static char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        die("cannot open traffic file", path);
    }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)length + 1);
    if (text == NULL || fread(text, 1, (size_t)length, file) != (size_t)length) {
        die("cannot read traffic file", path);
    }
    fclose(file);
    text[length] = '\0';
    *size = (size_t)length;
    return text;
}

/* Split the file into datagrams of per_datagram lines, joined by '\n' with no
 * trailing newline. The last datagram may hold fewer lines. */
static struct datagram *pack(char *text, size_t size, unsigned per_datagram, size_t *count) {
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) {
        lines += text[i] == '\n';
    }
    if (size > 0 && text[size - 1] != '\n') {
        lines++;
    }
    if (lines == 0) {
        die("traffic file has no lines", "");
    }
    size_t capacity = (lines + per_datagram - 1) / per_datagram;
    struct datagram *out = calloc(capacity, sizeof(*out));
    size_t n = 0;
    char *cursor = text;
    char *end = text + size;
    while (cursor < end && n < capacity) {
        char *start = cursor;
        unsigned taken = 0;
        while (taken < per_datagram && cursor < end) {
            char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
            cursor = newline ? newline + 1 : end;
            taken++;
        }
        size_t len = (size_t)(cursor - start);
        if (len > 0 && start[len - 1] == '\n') {
            len--;
        }
        out[n].data = start;
        out[n].len = len;
        out[n].lines = taken;
        n++;
    }
    *count = n;
    return out;
}

static void parse_dest(const char *text, struct sockaddr_in *addr) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host)) {
        die("invalid --dest, expected HOST:PORT", text);
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        die("invalid --dest host, expected an IPv4 literal", host);
    }
}

struct options {
    const char *file;
    unsigned per_datagram;
    double rate;
    double duration;
    uint64_t max_lines;
    double probe_rate;
    struct sockaddr_in dests[MAX_DESTS];
    int n_dests;
};

static void parse_args(int argc, char **argv, struct options *o) {
    memset(o, 0, sizeof(*o));
    o->per_datagram = 1;
    o->max_lines = UINT64_MAX;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *key = argv[i];
        const char *value = argv[i + 1];
        if (strcmp(key, "--file") == 0) {
            o->file = value;
        } else if (strcmp(key, "--lines-per-datagram") == 0) {
            o->per_datagram = (unsigned)atoi(value);
        } else if (strcmp(key, "--rate") == 0) {
            o->rate = atof(value);
        } else if (strcmp(key, "--duration") == 0) {
            o->duration = atof(value);
        } else if (strcmp(key, "--max-lines") == 0) {
            o->max_lines = strtoull(value, NULL, 10);
        } else if (strcmp(key, "--probe-rate") == 0) {
            o->probe_rate = atof(value);
        } else if (strcmp(key, "--dest") == 0 && o->n_dests < MAX_DESTS) {
            parse_dest(value, &o->dests[o->n_dests++]);
        } else {
            die("unknown option", key);
        }
    }
    if (o->file == NULL || o->n_dests == 0 || o->rate <= 0 || o->duration <= 0) {
        die("missing option", "--file, --dest, --rate and --duration are required");
    }
    if (o->per_datagram == 0 || o->duration > 600) {
        die("invalid option", "--lines-per-datagram >= 1 and --duration <= 600 s");
    }
}

/* Send one probe datagram carrying the current monotonic time. */
static int send_probe(int fd, const struct options *o, uint64_t index) {
    char text[96];
    int len = snprintf(text, sizeof(text), "bench.probe.%u:%llu|g",
                       (unsigned)(index % PROBE_NAMES), (unsigned long long)now_ns());
    const struct sockaddr_in *dest = &o->dests[index % (uint64_t)o->n_dests];
    ssize_t sent = sendto(fd, text, (size_t)len, 0, (const struct sockaddr *)dest, sizeof(*dest));
    return sent == len ? 0 : -1;
}

int main(int argc, char **argv) {
    struct options o;
    parse_args(argc, argv, &o);
    size_t size = 0;
    char *text = read_file(o.file, &size);
    size_t n_datagrams = 0;
    struct datagram *datagrams = pack(text, size, o.per_datagram, &n_datagrams);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    /* Nanosleep wakes close to the requested time only with a small slack. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    /* A hard stop in case the loop below misbehaves. */
    alarm((unsigned)o.duration + 10);

    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    /* lines_paced counts the lines whose send time has passed, sent or not,
     * so a failing socket cannot make the loop burst to catch up. */
    uint64_t lines_paced = 0, lines_sent = 0, datagrams_sent = 0, probes = 0, errors = 0;
    size_t next = 0;
    uint64_t rr = 0;
    double start = now_s();
    double stop = start + o.duration;
    double probe_interval = o.probe_rate > 0 ? 1.0 / o.probe_rate : 0;
    double next_probe = start + probe_interval;
    double line_interval = 1.0 / o.rate;
    for (;;) {
        double now = now_s();
        if (now >= stop || lines_paced >= o.max_lines) {
            break;
        }
        if (probe_interval > 0 && now >= next_probe) {
            errors += send_probe(fd, &o, probes) != 0;
            probes++;
            next_probe += probe_interval;
        }
        uint64_t due = (uint64_t)((now - start) * o.rate) + 1;
        if (due > o.max_lines) {
            due = o.max_lines;
        }
        int batch = 0;
        uint64_t planned = lines_paced;
        unsigned batch_lines[BATCH];
        while (batch < BATCH && planned < due) {
            struct datagram *d = &datagrams[next];
            next = (next + 1) % n_datagrams;
            iovs[batch].iov_base = d->data;
            iovs[batch].iov_len = d->len;
            memset(&msgs[batch], 0, sizeof(msgs[batch]));
            msgs[batch].msg_hdr.msg_iov = &iovs[batch];
            msgs[batch].msg_hdr.msg_iovlen = 1;
            msgs[batch].msg_hdr.msg_name = &o.dests[rr % (uint64_t)o.n_dests];
            msgs[batch].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            rr++;
            batch_lines[batch] = d->lines;
            planned += d->lines;
            batch++;
        }
        if (batch == 0) {
            sleep_until(start + (double)(lines_paced + 1) * line_interval);
            continue;
        }
        int done = sendmmsg(fd, msgs, (unsigned)batch, 0);
        if (done < 0) {
            done = 0;
        }
        errors += (uint64_t)(batch - done);
        for (int i = 0; i < done; i++) {
            lines_sent += batch_lines[i];
        }
        lines_paced = planned;
        datagrams_sent += (uint64_t)done;
    }
    double elapsed = now_s() - start;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double user = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6;
    double sys = (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
    printf("{\"lines\": %llu, \"datagrams\": %llu, \"probes\": %llu, \"errors\": %llu, "
           "\"elapsed\": %.6f, \"cpu_user\": %.6f, \"cpu_sys\": %.6f}\n",
           (unsigned long long)lines_sent, (unsigned long long)datagrams_sent,
           (unsigned long long)probes, (unsigned long long)errors, elapsed, user, sys);
    close(fd);
    return 0;
}
