/* A naive userfaultfd pager with memcached as its page store, for
 * rmem-bench to compare against: the design a user could write in an
 * afternoon.
 *
 * One handler thread reads userfaults.  A missing fault on a page stored
 * before costs one GET ("get KEY", text protocol, one round trip) and one
 * UFFDIO_COPY; a page never stored is mapped as zeros.  Resident pages are
 * kept in FIFO order; when the local limit is reached the oldest one is
 * stored with one SET and dropped with MADV_DONTNEED before the fault is
 * served.  It tracks no writes, so every eviction is a SET, and it never
 * reads ahead: one page per fault, one round trip per page moved.  Keys
 * carry the pid so that runs sharing one memcached do not collide. */
#include <errno.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MC_KEY_MAX 48
#define MC_BATCH 16

enum { MP_RESIDENT = 1, MP_STORED = 2 };

struct mcpager {
    char *map;
    size_t size;
    uint64_t pages, limit;         /* limit: resident pages allowed */
    uint8_t *state;                /* MP_* per page */
    uint64_t *fifo;                /* resident pages, oldest at head */
    uint64_t head, nres;
    int uffd, stop_efd, sock;
    pthread_t thread;
    void *buf;                     /* one page, what GET fills */
    void *zeros;
    char rbuf[BENCH_PAGE + 128];   /* a GET reply */
    pid_t pid;
    int failed;                    /* first failure, -errno; sticky */

    pthread_mutex_t lock;          /* stat, hist */
    struct mcpager_stat stat;
    struct rmem__hist hist;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- memcached text protocol ------------------------------------------ */

static int mc_connect(const char *server)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    const char *colon = strrchr(server, ':');
    char host[256];
    int fd, one = 1, err;

    if (!colon || (size_t)(colon - server) >= sizeof(host))
        return -EINVAL;
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &res))
        return -EHOSTUNREACH;
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        err = -errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return err;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int send_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int recv_exact(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        if (n == 0)
            return -ECONNRESET;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int mc_key(const struct mcpager *m, uint64_t idx, char *key)
{
    return snprintf(key, MC_KEY_MAX, "rb%d:%" PRIu64, (int)m->pid, idx);
}

static int mc_set(struct mcpager *m, uint64_t idx, const void *page)
{
    char key[MC_KEY_MAX], cmd[MC_KEY_MAX + 32], reply[8];
    int klen = mc_key(m, idx, key);
    int clen = snprintf(cmd, sizeof(cmd), "set %.*s 0 0 %u\r\n", klen, key,
                        BENCH_PAGE);
    struct iovec iov[3] = {{cmd, (size_t)clen}, {(void *)page, BENCH_PAGE},
                           {"\r\n", 2}};
    int err = send_all(m->sock, iov, 3);

    if (!err)
        err = recv_exact(m->sock, reply, 8);
    if (!err && memcmp(reply, "STORED\r\n", 8) != 0)
        err = -EIO;
    return err;
}

/* The reply to "get KEY" is "VALUE KEY 0 4096\r\n", the page, then
 * "\r\nEND\r\n"; a miss is "END\r\n" alone, which memcached sends only when
 * it evicted the page (its memory is too small for the run). */
static int mc_get(struct mcpager *m, uint64_t idx, void *page)
{
    char key[MC_KEY_MAX], cmd[MC_KEY_MAX + 16], head[MC_KEY_MAX + 32];
    int klen = mc_key(m, idx, key);
    int clen = snprintf(cmd, sizeof(cmd), "get %.*s\r\n", klen, key);
    int hlen = snprintf(head, sizeof(head), "VALUE %.*s 0 %u\r\n", klen, key,
                        BENCH_PAGE);
    size_t total = (size_t)hlen + BENCH_PAGE + 7;
    struct iovec iov = {cmd, (size_t)clen};
    int err = send_all(m->sock, &iov, 1);

    if (!err)
        err = recv_exact(m->sock, m->rbuf, 5);
    if (!err && memcmp(m->rbuf, "END\r\n", 5) == 0)
        return -ENOENT;
    if (!err)
        err = recv_exact(m->sock, m->rbuf + 5, total - 5);
    if (err)
        return err;
    if (memcmp(m->rbuf, head, (size_t)hlen) != 0 ||
        memcmp(m->rbuf + hlen + BENCH_PAGE, "\r\nEND\r\n", 7) != 0)
        return -EPROTO;
    memcpy(page, m->rbuf + hlen, BENCH_PAGE);
    return 0;
}

/* ---- faults ------------------------------------------------------------ */

static void fail(struct mcpager *m, const char *what, uint64_t idx, int err)
{
    if (!m->failed)
        fprintf(stderr, "rmem-bench: memcached pager: %s page %" PRIu64 ": %s\n",
                what, idx, err == -ENOENT ? "memcached lost it (too small?)" :
                strerror(-err));
    if (!m->failed)
        m->failed = err;
}

static void evict_oldest(struct mcpager *m)
{
    uint64_t idx = m->fifo[m->head];
    char *addr = m->map + idx * BENCH_PAGE;
    int err = mc_set(m, idx, addr);

    if (err)
        fail(m, "SET", idx, err);
    madvise(addr, BENCH_PAGE, MADV_DONTNEED);
    m->state[idx] = MP_STORED;
    m->head = (m->head + 1) % m->limit;
    m->nres--;
    pthread_mutex_lock(&m->lock);
    m->stat.sets++;
    pthread_mutex_unlock(&m->lock);
}

/* On any failure the page is mapped as zeros so the faulting thread goes
 * on; the run is then reported as failed and its checksum is wrong. */
static void serve_fault(struct mcpager *m, uint64_t addr)
{
    uint64_t idx = (addr - (uintptr_t)m->map) / BENCH_PAGE, t0 = now_ns();
    char *dst = m->map + idx * BENCH_PAGE;
    const void *src = m->zeros;
    bool fetched = false;
    int err;

    if (idx >= m->pages)
        return;
    if (m->state[idx] & MP_RESIDENT) {
        rmem__uffd_wake(m->uffd, dst, BENCH_PAGE);
        return;
    }
    if (m->nres == m->limit)
        evict_oldest(m);
    if (m->state[idx] & MP_STORED) {
        err = mc_get(m, idx, m->buf);
        if (err)
            fail(m, "GET", idx, err);
        else
            src = m->buf;
        fetched = true;
    }
    err = rmem__uffd_copy(m->uffd, dst, src, BENCH_PAGE, false);
    if (err)
        fail(m, "UFFDIO_COPY", idx, err);
    m->state[idx] |= MP_RESIDENT;
    m->fifo[(m->head + m->nres) % m->limit] = idx;
    m->nres++;
    pthread_mutex_lock(&m->lock);
    m->stat.faults++;
    if (fetched) {
        m->stat.gets++;
        rmem__hist_add(&m->hist, now_ns() - t0);
    }
    pthread_mutex_unlock(&m->lock);
}

static void *handler(void *arg)
{
    struct mcpager *m = arg;
    struct pollfd pfd[2] = {{m->uffd, POLLIN, 0}, {m->stop_efd, POLLIN, 0}};
    struct uffd_msg msgs[MC_BATCH];

    for (;;) {
        int n;

        if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
            fail(m, "poll for", 0, -errno);
            return NULL;
        }
        if (pfd[1].revents)
            return NULL;
        n = rmem__uffd_read(m->uffd, msgs, MC_BATCH);
        for (int i = 0; i < n; i++)
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                serve_fault(m, msgs[i].arg.pagefault.address);
    }
}

/* ---- setup ------------------------------------------------------------- */

static void pager_free(struct mcpager *m)
{
    if (m->sock >= 0)
        close(m->sock);
    if (m->stop_efd >= 0)
        close(m->stop_efd);
    if (m->uffd >= 0)
        close(m->uffd);
    if (m->map && m->map != MAP_FAILED)
        munmap(m->map, m->size);
    free(m->state);
    free(m->fifo);
    free(m->buf);
    free(m->zeros);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

struct mcpager *mcpager_open(const char *server, size_t size, size_t limit)
{
    struct mcpager *m = calloc(1, sizeof(*m));
    int err;

    if (!m)
        return NULL;
    m->uffd = m->stop_efd = m->sock = -1;
    pthread_mutex_init(&m->lock, NULL);
    m->size = (size + BENCH_PAGE - 1) / BENCH_PAGE * BENCH_PAGE;
    m->pages = m->size / BENCH_PAGE;
    m->limit = limit / BENCH_PAGE ? limit / BENCH_PAGE : m->pages;
    m->pid = getpid();
    m->state = calloc(m->pages, 1);
    m->fifo = calloc(m->limit, sizeof(*m->fifo));
    m->buf = aligned_alloc(BENCH_PAGE, BENCH_PAGE);
    m->zeros = aligned_alloc(BENCH_PAGE, BENCH_PAGE);
    if (!m->state || !m->fifo || !m->buf || !m->zeros) {
        err = -ENOMEM;
        goto err_free;
    }
    memset(m->zeros, 0, BENCH_PAGE);
    m->sock = mc_connect(server);
    if (m->sock < 0) {
        err = m->sock;
        fprintf(stderr, "rmem-bench: memcached at %s: %s\n", server, strerror(-err));
        goto err_free;
    }
    m->map = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    m->uffd = rmem__uffd_open(NULL);
    m->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (m->map == MAP_FAILED || m->uffd < 0 || m->stop_efd < 0) {
        err = m->map == MAP_FAILED || m->stop_efd < 0 ? -errno : m->uffd;
        fprintf(stderr, "rmem-bench: memcached pager setup: %s\n", strerror(-err));
        goto err_free;
    }
    madvise(m->map, m->size, MADV_NOHUGEPAGE);
    err = rmem__uffd_register(m->uffd, m->map, m->size, true);
    if (!err)
        err = -pthread_create(&m->thread, NULL, handler, m);
    if (err) {
        fprintf(stderr, "rmem-bench: memcached pager: %s\n", strerror(-err));
        goto err_free;
    }
    return m;

err_free:
    pager_free(m);
    errno = -err;
    return NULL;
}

void *mcpager_addr(struct mcpager *m)
{
    return m->map;
}

void mcpager_stat(struct mcpager *m, struct mcpager_stat *st)
{
    pthread_mutex_lock(&m->lock);
    *st = m->stat;
    st->get_ns_p50 = rmem__hist_percentile(&m->hist, 50);
    st->get_ns_p99 = rmem__hist_percentile(&m->hist, 99);
    pthread_mutex_unlock(&m->lock);
}

int mcpager_close(struct mcpager *m)
{
    int failed;

    eventfd_write(m->stop_efd, 1);
    pthread_join(m->thread, NULL);
    failed = m->failed;
    /* Leave memcached as it was: the pages of this run are garbage now. */
    for (uint64_t i = 0; i < m->pages && !failed; i++) {
        char key[MC_KEY_MAX], cmd[MC_KEY_MAX + 24];
        int klen, clen;
        struct iovec iov;

        if (!(m->state[i] & MP_STORED))
            continue;
        klen = mc_key(m, i, key);
        clen = snprintf(cmd, sizeof(cmd), "delete %.*s noreply\r\n", klen, key);
        iov = (struct iovec){cmd, (size_t)clen};
        if (send_all(m->sock, &iov, 1))
            break;
    }
    rmem__uffd_unregister(m->uffd, m->map, m->size);
    pager_free(m);
    return failed ? -1 : 0;
}
