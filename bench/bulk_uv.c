// Bulk transfer in plain libuv C, the peer of bench/bulk_duet.cpp: TOTAL bytes (1 GiB) through
// one TCP connection on 127.0.0.1, both ends on one loop in one thread (run.py pins it to
// CPU 0). The sender writes 64 KiB chunks with uv_write while the stream's write queue holds
// at most 64 KiB (asyncio's default high-water mark) and continues from the write callbacks;
// the receiver reads into one 64 KiB buffer and counts. Prints one JSON line.
//   With "paced" (not run by run.py; for the RESULTS.md analysis), the receiver reads the
//   way asyncio's flow control lets a read(64 KiB) loop with the default 64 KiB limit read:
//   at most 4 x 64 KiB per wake-up (one read's worth plus just over 2 x limit buffered),
//   then stops reading and restarts from an idle handle on the next loop iteration.
// usage: bulk_uv [TOTAL_BYTES=1073741824] [paced]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define CHUNK 65536
#define QUEUE_BOUND 65536

static uv_loop_t* loop;
static uv_tcp_t listener, sender, receiver;
static uv_connect_t connect_req;
static char out_chunk[CHUNK], in_buf[CHUNK];
static uint64_t total, queued, received;
static uint64_t t0;
static double cpu0;
static int done;
static int paced, reads_this_wake;
static uv_idle_t restart;

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void die(const char* what, int rc) {
    fprintf(stderr, "bulk_uv: %s: %s\n", what, uv_strerror(rc));
    exit(1);
}

static void pump(void);
static void write_cb(uv_write_t* req, int status) {
    free(req);
    if (status < 0) die("write", status);
    pump();
}

// Queue chunks while the write queue is at or below the bound (uv_write sends at once what
// the socket takes; only the rest waits in the queue).
static void pump(void) {
    while (queued < total && sender.write_queue_size <= QUEUE_BOUND) {
        uint64_t left = total - queued;
        uv_buf_t b = uv_buf_init(out_chunk, left < CHUNK ? (unsigned)left : CHUNK);
        uv_write_t* req = malloc(sizeof *req);
        int rc = uv_write(req, (uv_stream_t*)&sender, &b, 1, write_cb);
        if (rc < 0) die("uv_write", rc);
        queued += b.len;
    }
}

static void alloc_cb(uv_handle_t* h, size_t hint, uv_buf_t* b);
static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* b);
static void on_restart(uv_idle_t* i) {
    uv_idle_stop(i);
    reads_this_wake = 0;
    uv_read_start((uv_stream_t*)&receiver, alloc_cb, read_cb);
}

static void alloc_cb(uv_handle_t* h, size_t hint, uv_buf_t* b) {
    (void)h;
    (void)hint;
    *b = uv_buf_init(in_buf, sizeof in_buf);
}

static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    (void)s;
    (void)b;
    if (n < 0) die("read", (int)n);
    received += (uint64_t)n;
    if (paced && n > 0 && ++reads_this_wake == 4 && received < total) {
        uv_read_stop(s);
        uv_idle_start(&restart, on_restart);
    }
    if (received >= total && !done) {
        done = 1;
        double wall = (uv_hrtime() - t0) / 1e9, cpu = cpu_s() - cpu0;
        printf(
            "{\"peer\": \"libuv_c%s\", \"bench\": \"bulk\", \"bytes\": %llu, \"chunk\": %d, \"wall_s\": %.3f, "
            "\"cpu_s\": %.3f, \"rate\": %.1f, \"gbit_per_s\": %.2f}\n",
            paced ? "_paced" : "", (unsigned long long)received, CHUNK, wall, cpu, received / wall,
            received * 8 / wall / 1e9);
        fflush(stdout);
        uv_close((uv_handle_t*)&sender, NULL);
        uv_close((uv_handle_t*)&receiver, NULL);
        uv_close((uv_handle_t*)&listener, NULL);
        uv_close((uv_handle_t*)&restart, NULL);
    }
}

static void on_connection(uv_stream_t* srv, int status) {
    if (status < 0) die("accept", status);
    uv_tcp_init(loop, &receiver);
    int rc = uv_accept(srv, (uv_stream_t*)&receiver);
    if (rc < 0) die("uv_accept", rc);
    uv_read_start((uv_stream_t*)&receiver, alloc_cb, read_cb);
}

static void on_connect(uv_connect_t* req, int status) {
    (void)req;
    if (status < 0) die("connect", status);
    t0 = uv_hrtime();
    cpu0 = cpu_s();
    pump();
}

int main(int argc, char** argv) {
    total = argc > 1 ? strtoull(argv[1], NULL, 10) : (1ull << 30);
    paced = argc > 2 && strcmp(argv[2], "paced") == 0;
    memset(out_chunk, 'x', sizeof out_chunk);
    loop = uv_default_loop();
    uv_idle_init(loop, &restart);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &listener);
    int rc = uv_tcp_bind(&listener, (const struct sockaddr*)&a, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t*)&listener, 16, on_connection);
    if (rc < 0) die("listen", rc);
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, (struct sockaddr*)&bound, &len);
    uv_tcp_init(loop, &sender);
    rc = uv_tcp_connect(&connect_req, &sender, (const struct sockaddr*)&bound, on_connect);
    if (rc < 0) die("uv_tcp_connect", rc);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return done ? 0 : 1;
}
