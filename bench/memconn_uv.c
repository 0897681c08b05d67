// Memory per idle TCP connection in plain libuv C, the peer of bench/memconn_duet.cpp and
// bench/memconn_tokio: N (10,000) connected pairs on 127.0.0.1, every end reading (one
// uv_tcp_t per end, uv_read_start with one shared read buffer, as libuv suggests for many
// connections). Each end's RSS growth over the connections, divided by N.
//
// 2 x N sockets do not fit this machine's fd hard limit (20,000) in one process, so the
// process that listens (the server ends) starts itself again as the client (the connecting
// ends): each measures its RSS before and after its N connections; the server reports both
// and their sum per pair. Prints one JSON line.
// usage: memconn_uv [N=10000]      (the child: memconn_uv --client PORT N)
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

extern char** environ;

#define IN_FLIGHT 128  // connects outstanding at once (stays far below the listen backlog)

static uv_loop_t* loop;
static int n_total, n_done, n_started;
static struct sockaddr_in server_addr;
static char read_buf[65536];

static void die(const char* what, int rc) {
    fprintf(stderr, "memconn_uv: %s: %s\n", what, rc < 0 ? uv_strerror(rc) : strerror(errno));
    exit(1);
}

static long rss_bytes(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) die("/proc/self/statm", 0);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void raise_nofile(void) {
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

static void alloc_cb(uv_handle_t* h, size_t hint, uv_buf_t* b) {
    (void)h;
    (void)hint;
    *b = uv_buf_init(read_buf, sizeof read_buf);
}
static void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    (void)b;
    if (n < 0) uv_close((uv_handle_t*)s, NULL);  // (never: the connections stay idle)
}

// ---- the client: N connections, IN_FLIGHT at a time
static void start_connect(void);
static void on_connect(uv_connect_t* req, int status) {
    if (status < 0) die("connect", status);
    uv_read_start(req->handle, alloc_cb, read_cb);
    free(req);
    if (++n_done == n_total) {
        uv_stop(loop);
        return;
    }
    start_connect();
}
static void start_connect(void) {
    if (n_started == n_total) return;
    n_started++;
    uv_tcp_t* t = malloc(sizeof *t);
    uv_tcp_init(loop, t);
    uv_connect_t* req = malloc(sizeof *req);
    int rc = uv_tcp_connect(req, t, (const struct sockaddr*)&server_addr, on_connect);
    if (rc < 0) die("uv_tcp_connect", rc);
}

static int client_main(int port) {
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &server_addr);
    long before = rss_bytes();
    for (int i = 0; i < IN_FLIGHT; i++) start_connect();
    uv_run(loop, UV_RUN_DEFAULT);
    long after = rss_bytes();
    printf("%ld %ld\n", before, after);
    fflush(stdout);
    // Hold the connections until the server has measured (it closes our stdin then).
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

// ---- the server: accepts N, then collects the client's figures
static void on_connection(uv_stream_t* srv, int status) {
    if (status < 0) die("accept", status);
    uv_tcp_t* t = malloc(sizeof *t);
    uv_tcp_init(loop, t);
    int rc = uv_accept(srv, (uv_stream_t*)t);
    if (rc < 0) die("uv_accept", rc);
    uv_read_start((uv_stream_t*)t, alloc_cb, read_cb);
    if (++n_done == n_total) uv_stop(loop);
}

int main(int argc, char** argv) {
    raise_nofile();
    if (argc > 3 && strcmp(argv[1], "--client") == 0) {
        n_total = atoi(argv[3]);
        return client_main(atoi(argv[2]));
    }
    n_total = argc > 1 ? atoi(argv[1]) : 10000;
    loop = uv_default_loop();
    uv_tcp_t listener;
    uv_tcp_init(loop, &listener);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    int rc = uv_tcp_bind(&listener, (const struct sockaddr*)&a, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t*)&listener, 4096, on_connection);
    if (rc < 0) die("listen", rc);
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, (struct sockaddr*)&bound, &len);
    char port[16], count[16];
    snprintf(port, sizeof port, "%d", ntohs(bound.sin_port));
    snprintf(count, sizeof count, "%d", n_total);

    long before = rss_bytes();
    int to_child[2], from_child[2];
    if (pipe(to_child) || pipe(from_child)) die("pipe", 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    posix_spawn_file_actions_addclose(&fa, to_child[1]);
    posix_spawn_file_actions_addclose(&fa, from_child[0]);
    char* child_argv[] = {"/proc/self/exe", "--client", port, count, NULL};
    pid_t pid;
    if ((errno = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, child_argv, environ))) die("posix_spawn", 0);
    close(to_child[0]);
    close(from_child[1]);

    uv_run(loop, UV_RUN_DEFAULT);  // until N are accepted
    long after = rss_bytes();
    FILE* f = fdopen(from_child[0], "r");
    long c_before = 0, c_after = 0;
    if (fscanf(f, "%ld %ld", &c_before, &c_after) != 2) die("reading the client's figures", 0);
    close(to_child[1]);
    int st;
    waitpid(pid, &st, 0);
    double server_b = (double)(after - before) / n_total, client_b = (double)(c_after - c_before) / n_total;
    printf(
        "{\"peer\": \"libuv_c\", \"bench\": \"memconn\", \"n\": %d, \"server_rss_before\": %ld, "
        "\"server_rss_after\": %ld, \"client_rss_before\": %ld, \"client_rss_after\": %ld, "
        "\"server_bytes_per_conn\": %.1f, \"client_bytes_per_conn\": %.1f, \"bytes_per_pair\": %.1f}\n",
        n_total, before, after, c_before, c_after, server_b, client_b, server_b + client_b);
    return 0;
}
