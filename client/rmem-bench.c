/* rmem-bench: page a mapping bigger than the local limit and report what
 * it cost, through rmemd or through the systems rmem competes with.
 *
 *   rmem-bench [-s HOST:PORT] [--size SIZE] [--limit SIZE]
 *              [--pattern seq|random|both] [--passes N] [--seed N] [--json]
 *   rmem-bench --workload W[,W..]|all [--backend rmem|local|memcached]
 *              [--size SIZE] [--limit SIZE] [--memcached HOST:PORT] [--seed N]
 *   rmem-bench --floor [-s HOST:PORT] [--samples N]
 *
 * Pattern mode (the first form) checks and measures rmem alone.  Each
 * pattern gets its own client and its own private anonymous mapping,
 * so its counters and fault latencies are its own.  A phase touches as many
 * pages as the mapping holds: "seq" writes every page in order, then reads
 * and verifies every page in order; "random" writes uniformly random pages,
 * then reads and verifies uniformly random pages.  Every page written is
 * filled completely with words derived from its index and a generation (the
 * pass for seq, a running write number for random), so a page that comes
 * back stale, zeroed or from the wrong place is caught with its index; a
 * page never written must read as zeros.  The first bad page ends the run
 * with exit status 1.
 *
 * Figures per phase: elapsed time, pages/s, MB/s (10^6 bytes), the deltas
 * of every rmem_stat counter, the remote-fault p50/p99 the library keeps
 * for this client, and per-page ratios (faults, remote faults, write-backs
 * per page touched).
 *
 * Workload mode (the second form) runs the workloads of
 * tests/bench/workload.c - seq, random, zipf, sort - with one program
 * logic over memory from a backend: "rmem" (librmem with the local limit),
 * "local" (plain anonymous memory: unlimited, or limited by whatever memory
 * cgroup the process runs in - tests/bench/compare.sh puts it in one with
 * swap on a file or on zram) or "memcached" (the naive userfaultfd pager of
 * tests/bench/mcpager.c with the local limit).  Working set 1 GiB and limit
 * 256 MiB unless --size and --limit say otherwise.  It prints one line of
 * key=value figures per workload, for compare.sh and for people: time of
 * the timed part, the kernel's major/minor fault counts of this process
 * over it, the pager's counters (remote faults, prefetch hits, write-backs,
 * p50/p99 remote-fault time) and a checksum that is the same on every
 * backend for one seed.
 *
 * --floor measures what a remote fault cannot go below (floor.c): the p50
 * of one userfaultfd copy fault and of one 4 KiB READ round trip to rmemd,
 * and the same for a fault that brings a whole readahead window. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "internal.h"
#include "../tests/bench/bench.h"

#define PAGE RMEM_PAGE_SIZE
#define WORDS (PAGE / sizeof(uint64_t))
#define EXIT_USAGE 2

/* The rmem_stat counters that grow; per phase we print their deltas. */
#define STAT_COUNTERS(X) \
    X(faults) X(faults_zero) X(faults_remote) X(faults_wp) X(evictions) \
    X(writebacks) X(prefetched) X(prefetch_hits) X(bytes_in) X(bytes_out)
/* The ones that are levels, printed as they are at the end of a phase. */
#define STAT_LEVELS(X) \
    X(total_vm) X(rss) X(locked_vm) X(fault_ns_p50) X(fault_ns_p99) \
    X(remote_usage) X(remote_limit)

enum pattern { PAT_SEQ = 1, PAT_RANDOM = 2, PAT_BOTH = 3 };

struct bench {
    rmem_options ro;
    uint64_t size, pages;
    enum pattern pattern;
    unsigned passes;
    uint64_t seed;
    bool json;
    unsigned nphases;               /* printed so far (JSON commas) */
};

struct phase {
    const char *pattern;            /* "seq", "random" */
    const char *op;                 /* "write", "read" */
    unsigned pass;
    uint64_t pages;
    double elapsed;
    struct rmem_stat delta;         /* counters: growth; levels: at the end */
};

/* ---- pages ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t page_word(uint64_t index, uint64_t gen, size_t k)
{
    uint64_t s = index * 0x100000001b3ull ^ gen << 32 ^ gen;

    switch (k) {
    case 0: return index;
    case 1: return gen;
    default: return splitmix64(&s) + k * 0x9e3779b97f4a7c15ull;
    }
}

static void page_fill(uint64_t *w, uint64_t index, uint64_t gen)
{
    for (size_t k = 0; k < WORDS; k++)
        w[k] = page_word(index, gen, k);
}

/* 0 if page `index` holds generation gen (gen 0: never written, zeros);
 * otherwise prints the first difference and returns -1. */
static int page_check(const uint64_t *w, uint64_t index, uint64_t gen,
                      const struct phase *ph)
{
    for (size_t k = 0; k < WORDS; k++) {
        uint64_t want = gen ? page_word(index, gen, k) : 0;

        if (w[k] != want) {
            fprintf(stderr, "rmem-bench: %s %s pass %u: verify failed at page %"
                    PRIu64 " (offset %#" PRIx64 "), word %zu is %#" PRIx64
                    ", expected %#" PRIx64 " (page written as index %" PRIu64
                    " generation %" PRIu64 ", expected %" PRIu64 " %" PRIu64 ")\n",
                    ph->pattern, ph->op, ph->pass, index, index * PAGE, k,
                    w[k], want, w[0], w[1], gen ? index : 0, gen);
            return -1;
        }
    }
    return 0;
}

/* ---- figures --------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stat_delta(struct rmem_stat *d, const struct rmem_stat *a,
                       const struct rmem_stat *b)
{
#define X(f) d->f = b->f - a->f;
    STAT_COUNTERS(X)
#undef X
#define X(f) d->f = b->f;
    STAT_LEVELS(X)
#undef X
}

static double per(uint64_t n, uint64_t d)
{
    return d ? (double)n / (double)d : 0.0;
}

static void phase_print(struct bench *b, const struct phase *ph)
{
    const struct rmem_stat *s = &ph->delta;
    double pps = ph->elapsed > 0 ? (double)ph->pages / ph->elapsed : 0;
    double mbs = pps * PAGE / 1e6;

    if (b->json) {
        printf("%s\n    {\"pattern\": \"%s\", \"op\": \"%s\", \"pass\": %u, "
               "\"pages\": %" PRIu64 ", \"elapsed_s\": %.6f, "
               "\"pages_per_s\": %.1f, \"mb_per_s\": %.2f",
               b->nphases ? "," : "", ph->pattern, ph->op, ph->pass,
               ph->pages, ph->elapsed, pps, mbs);
#define X(f) printf(", \"" #f "\": %" PRIu64, s->f);
        STAT_COUNTERS(X)
        STAT_LEVELS(X)
#undef X
        printf(", \"faults_per_page\": %.4f, \"remote_faults_per_page\": %.4f"
               ", \"writebacks_per_page\": %.4f}",
               per(s->faults, ph->pages), per(s->faults_remote, ph->pages),
               per(s->writebacks, ph->pages));
        b->nphases++;
        return;
    }
    printf("%-6s %-5s pass %u: %" PRIu64 " pages in %.3f s, %.0f pages/s, %.1f MB/s\n",
           ph->pattern, ph->op, ph->pass, ph->pages, ph->elapsed, pps, mbs);
    printf("    remote fault p50 %.1f us, p99 %.1f us; per page: %.3f faults, "
           "%.3f remote, %.3f write-backs\n",
           (double)s->fault_ns_p50 / 1e3, (double)s->fault_ns_p99 / 1e3,
           per(s->faults, ph->pages), per(s->faults_remote, ph->pages),
           per(s->writebacks, ph->pages));
    printf("    faults %" PRIu64 " (zero %" PRIu64 ", remote %" PRIu64 ", wp %" PRIu64
           "), evictions %" PRIu64 ", writebacks %" PRIu64 ", prefetched %" PRIu64
           " (hits %" PRIu64 ")\n",
           s->faults, s->faults_zero, s->faults_remote, s->faults_wp,
           s->evictions, s->writebacks, s->prefetched, s->prefetch_hits);
    printf("    bytes_in %" PRIu64 ", bytes_out %" PRIu64 "; rss %" PRIu64
           ", total_vm %" PRIu64 ", locked_vm %" PRIu64 ", remote_usage %" PRIu64
           ", remote_limit %" PRIu64 " bytes\n",
           s->bytes_in, s->bytes_out, s->rss, s->total_vm, s->locked_vm,
           s->remote_usage, s->remote_limit);
}

/* ---- phases ---------------------------------------------------------- */

struct run {
    struct bench *b;
    rmem_client *c;
    uint8_t *map;
    uint64_t *expect;               /* random: generation each page holds */
    uint64_t rng;
};

static int run_stat(struct run *r, struct rmem_stat *st)
{
    if (rmem_stat(r->c, st) < 0) {
        fprintf(stderr, "rmem-bench: rmem_stat: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Runs one phase: npages touches of page index pick(i), writing or
 * verifying.  Returns 0, or -1 after printing why. */
static int run_phase(struct run *r, const char *pattern, bool write,
                     unsigned pass, uint64_t *gen_next)
{
    struct bench *b = r->b;
    struct phase ph = {pattern, write ? "write" : "read", pass, b->pages, 0, {0}};
    bool seq = strcmp(pattern, "seq") == 0;
    struct rmem_stat s0, s1;
    double t0;

    if (run_stat(r, &s0))
        return -1;
    t0 = now();
    for (uint64_t i = 0; i < b->pages; i++) {
        uint64_t p = seq ? i : splitmix64(&r->rng) % b->pages;
        uint64_t *w = (uint64_t *)(void *)(r->map + p * PAGE);

        if (seq && write) {
            page_fill(w, p, pass);
        } else if (seq) {
            if (page_check(w, p, pass, &ph))
                return -1;
        } else if (write) {
            r->expect[p] = (*gen_next)++;
            page_fill(w, p, r->expect[p]);
        } else if (page_check(w, p, r->expect[p], &ph)) {
            return -1;
        }
    }
    ph.elapsed = now() - t0;
    if (run_stat(r, &s1))
        return -1;
    stat_delta(&ph.delta, &s0, &s1);
    phase_print(b, &ph);
    return 0;
}

/* One pattern on a fresh client and mapping.  0, or -1 (reason printed). */
static int run_pattern(struct bench *b, enum pattern pat)
{
    const char *name = pat == PAT_SEQ ? "seq" : "random";
    struct run r = {b, NULL, NULL, NULL, b->seed};
    uint64_t gen = 1;
    int ret = -1;

    r.c = rmem_connect(&b->ro);
    if (!r.c) {
        fprintf(stderr, "rmem-bench: connecting to %s: %s\n", b->ro.server,
                strerror(errno));
        return -1;
    }
    r.map = rmem_mmap(r.c, NULL, b->size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    if (r.map == MAP_FAILED) {
        fprintf(stderr, "rmem-bench: rmem_mmap %" PRIu64 " bytes: %s\n", b->size,
                strerror(errno));
        goto out_disconnect;
    }
    if (pat == PAT_RANDOM) {
        r.expect = calloc(b->pages, sizeof(*r.expect));
        if (!r.expect) {
            fprintf(stderr, "rmem-bench: out of memory\n");
            goto out_unmap;
        }
    }
    for (unsigned pass = 1; pass <= b->passes; pass++) {
        if (run_phase(&r, name, true, pass, &gen))
            goto out_free;
        if (run_phase(&r, name, false, pass, &gen))
            goto out_free;
    }
    ret = 0;
out_free:
    free(r.expect);
out_unmap:
    if (rmem_munmap(r.c, r.map, b->size) < 0) {
        fprintf(stderr, "rmem-bench: rmem_munmap: %s\n", strerror(errno));
        ret = -1;
    }
out_disconnect:
    rmem_disconnect(r.c);
    return ret;
}

/* ---- workload mode ----------------------------------------------------- */

enum backend { BK_LOCAL, BK_RMEM, BK_MEMCACHED };
static const char *const backend_names[] = {"local", "rmem", "memcached"};

struct wl_opts {
    enum backend backend;
    const char *memcached;          /* HOST:PORT */
    unsigned mask;                  /* 1 << enum bench_workload */
};

/* What a workload's timed part cost on one backend. */
struct wl_figures {
    struct bench_result res;
    uint64_t majflt, minflt;        /* kernel's count for this process */
    uint64_t faults, remote, prefetch_hits, writebacks;    /* the pager's */
    uint64_t p50_ns, p99_ns;        /* the pager's remote-fault time */
    int64_t sys[SYSCOUNT_KINDS];    /* system calls by kind, -1 unknown */
};

/* A mapping from a backend, and how to read its pager's counters. */
struct wl_mem {
    enum backend backend;
    size_t size;
    uint64_t *map;
    rmem_client *rc;
    struct mcpager *mc;
    struct syscount sc;             /* opened before the pager's threads */
};

static int wl_map(struct bench *b, const struct wl_opts *o, struct wl_mem *m)
{
    void *p;

    *m = (struct wl_mem){.backend = o->backend, .size = b->size};
    syscount_open(&m->sc);
    switch (o->backend) {
    case BK_LOCAL:
        p = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "rmem-bench: mmap: %s\n", strerror(errno));
            return -1;
        }
        break;
    case BK_RMEM:
        m->rc = rmem_connect(&b->ro);
        if (!m->rc) {
            fprintf(stderr, "rmem-bench: connecting to %s: %s\n", b->ro.server,
                    strerror(errno));
            return -1;
        }
        p = rmem_mmap(m->rc, NULL, b->size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "rmem-bench: rmem_mmap: %s\n", strerror(errno));
            rmem_disconnect(m->rc);
            return -1;
        }
        break;
    case BK_MEMCACHED:
        m->mc = mcpager_open(o->memcached, b->size, b->ro.local_limit);
        if (!m->mc)
            return -1;
        p = mcpager_addr(m->mc);
        break;
    default:
        return -1;
    }
    m->map = p;
    return 0;
}

static int wl_unmap(struct wl_mem *m)
{
    int ret = 0;

    switch (m->backend) {
    case BK_LOCAL:
        munmap(m->map, m->size);
        break;
    case BK_RMEM:
        if (rmem_munmap(m->rc, m->map, m->size) < 0) {
            fprintf(stderr, "rmem-bench: rmem_munmap: %s\n", strerror(errno));
            ret = -1;
        }
        rmem_disconnect(m->rc);
        break;
    case BK_MEMCACHED:
        ret = mcpager_close(m->mc);
        break;
    }
    syscount_close(&m->sc);
    return ret;
}

/* Counters as they are now; p50/p99 are levels, the rest grow. */
static void wl_sample(struct wl_mem *m, struct wl_figures *f)
{
    struct rusage ru;
    struct rmem_stat st;
    struct mcpager_stat ms;

    memset(f, 0, sizeof(*f));
    getrusage(RUSAGE_SELF, &ru);
    f->majflt = (uint64_t)ru.ru_majflt;
    f->minflt = (uint64_t)ru.ru_minflt;
    syscount_read(&m->sc, f->sys);
    if (m->backend == BK_RMEM && rmem_stat(m->rc, &st) == 0) {
        f->faults = st.faults;
        f->remote = st.faults_remote;
        f->prefetch_hits = st.prefetch_hits;
        f->writebacks = st.writebacks;
        f->p50_ns = st.fault_ns_p50;
        f->p99_ns = st.fault_ns_p99;
    } else if (m->backend == BK_MEMCACHED) {
        mcpager_stat(m->mc, &ms);
        f->faults = ms.faults;
        f->remote = ms.gets;
        f->writebacks = ms.sets;
        f->p50_ns = ms.get_ns_p50;
        f->p99_ns = ms.get_ns_p99;
    }
}

static void wl_print(const struct bench *b, const struct wl_opts *o,
                     enum bench_workload w, const struct wl_figures *f)
{
    printf("result workload=%s backend=%s size=%" PRIu64 " limit=%zu seconds=%.4f"
           " touches=%" PRIu64 " majflt=%" PRIu64 " minflt=%" PRIu64
           " faults=%" PRIu64 " remote_faults=%" PRIu64 " prefetch_hits=%" PRIu64
           " writebacks=%" PRIu64 " p50_ns=%" PRIu64 " p99_ns=%" PRIu64
           " syscalls=%" PRId64 " ioctls=%" PRId64 " madvises=%" PRId64
           " checksum=%016" PRIx64 "\n",
           bench_workload_name(w), backend_names[o->backend], b->size,
           b->ro.local_limit, f->res.seconds, f->res.touches, f->majflt,
           f->minflt, f->faults, f->remote, f->prefetch_hits, f->writebacks,
           f->p50_ns, f->p99_ns, f->sys[SYSCOUNT_ALL], f->sys[SYSCOUNT_IOCTL],
           f->sys[SYSCOUNT_MADVISE], f->res.checksum);
    fflush(stdout);
}

/* One workload on a fresh mapping: fill (untimed), timed part, counters,
 * check (untimed).  0, or -1 (reason printed). */
static int wl_run_one(struct bench *b, const struct wl_opts *o,
                      enum bench_workload w)
{
    struct wl_figures f0, f1;
    struct wl_mem m;
    uint64_t sum;
    int ret;

    if (wl_map(b, o, &m)) {
        syscount_close(&m.sc);
        return -1;
    }
    sum = bench_workload_fill(w, m.map, b->pages, b->seed);
    wl_sample(&m, &f0);
    bench_workload_run(w, m.map, b->pages, b->seed, &f1.res);
    struct bench_result res = f1.res;
    wl_sample(&m, &f1);
    f1.res = res;
#define D(x) f1.x -= f0.x;
    D(majflt) D(minflt) D(faults) D(remote) D(prefetch_hits) D(writebacks)
#undef D
    for (int k = 0; k < SYSCOUNT_KINDS; k++)
        f1.sys[k] = f1.sys[k] < 0 || f0.sys[k] < 0 ? -1 : f1.sys[k] - f0.sys[k];
    ret = bench_workload_check(w, m.map, b->pages, sum, &f1.res);
    if (wl_unmap(&m))
        ret = -1;
    if (ret == 0)
        wl_print(b, o, w, &f1);
    return ret;
}

static int wl_run(struct bench *b, const struct wl_opts *o)
{
    printf("rmem-bench: workloads over %" PRIu64 " MiB, backend %s, limit %zu MiB%s,"
           " seed %" PRIu64 "\n", b->size >> 20, backend_names[o->backend],
           b->ro.local_limit >> 20,
           o->backend == BK_LOCAL ? " (the memory cgroup's, if any)" : "", b->seed);
    fflush(stdout);
    for (int w = 0; w < WL_COUNT; w++)
        if ((o->mask & (1u << w)) && wl_run_one(b, o, (enum bench_workload)w))
            return -1;
    return 0;
}

/* "seq,zipf" or "all" into a mask; 0 on a bad name. */
static unsigned wl_parse_list(const char *s)
{
    char buf[128], *save = NULL;
    unsigned mask = 0;
    enum bench_workload w;

    if (strcmp(s, "all") == 0)
        return (1u << WL_COUNT) - 1;
    if (strlen(s) >= sizeof(buf))
        return 0;
    strcpy(buf, s);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (bench_workload_parse(t, &w))
            return 0;
        mask |= 1u << w;
    }
    return mask;
}

static int floor_run(struct bench *b, uint64_t samples)
{
    struct bench_floor f;

    if (bench_floor_measure(&b->ro, samples, &f))
        return -1;
    printf("floor samples=%" PRIu64 " uffd_p50_ns=%" PRIu64 " uffd_p99_ns=%" PRIu64
           " rtt_p50_ns=%" PRIu64 " rtt_p99_ns=%" PRIu64 " floor_p50_ns=%" PRIu64
           " window=%" PRIu32 " win_uffd_p50_ns=%" PRIu64 " win_rtt_p50_ns=%" PRIu64
           " win_floor_p50_ns=%" PRIu64 "\n",
           f.samples, f.page.uffd_ns_p50, f.page.uffd_ns_p99, f.page.rtt_ns_p50,
           f.page.rtt_ns_p99, f.page.uffd_ns_p50 + f.page.rtt_ns_p50, f.window,
           f.win.uffd_ns_p50, f.win.rtt_ns_p50, f.win.uffd_ns_p50 + f.win.rtt_ns_p50);
    return 0;
}

/* ---- main ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: rmem-bench [-s HOST:PORT] [--size SIZE] [--limit SIZE]\n"
        "                  [--pattern seq|random|both] [--passes N] [--seed N] [--json]\n"
        "\n"
        "  -s, --server HOST:PORT  rmemd (default $RMEM_SERVER or 127.0.0.1:7070)\n"
        "      --size SIZE         bytes to map (default 256M; K/M/G suffixes)\n"
        "      --limit SIZE        local limit (default 32M; 0 = none)\n"
        "      --pattern P         seq, random or both (default both)\n"
        "      --passes N          write+verify rounds per pattern (default 1)\n"
        "      --seed N            random pattern seed (default 1)\n"
        "      --prefetch N        readahead pages (default: library's)\n"
        "      --fault-threads N   fault threads (default: library's)\n"
        "      --json              one JSON object instead of text\n"
        "\n"
        "usage: rmem-bench --workload W[,W..]|all [--backend rmem|local|memcached]\n"
        "                  [-s HOST:PORT] [--size SIZE] [--limit SIZE] [--seed N]\n"
        "                  [--memcached HOST:PORT]\n"
        "\n"
        "      --workload W        seq, random, zipf, sort, a comma list, or all\n"
        "      --backend B         rmem (default), local (plain anonymous memory,\n"
        "                          limited only by its memory cgroup) or memcached\n"
        "                          (a naive userfaultfd pager, one GET/SET a page)\n"
        "      --size, --limit     working set and local limit (default 1G, 256M)\n"
        "      --memcached H:P     memcached for --backend memcached\n"
        "                          (default 127.0.0.1:11211)\n"
        "\n"
        "usage: rmem-bench --floor [-s HOST:PORT] [--samples N]\n"
        "\n"
        "      --floor             p50/p99 of one userfaultfd copy fault and of one\n"
        "                          4 KiB READ round trip to rmemd, and p50 of both\n"
        "                          for a readahead window (prefetch_max pages)\n"
        "      --samples N         samples of each (default 2000; windows: N/8)\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {"pattern", required_argument, NULL, 'p'},
        {"passes", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'r'},
        {"prefetch", required_argument, NULL, 'P'},
        {"fault-threads", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"workload", required_argument, NULL, 'w'},
        {"backend", required_argument, NULL, 'b'},
        {"memcached", required_argument, NULL, 'm'},
        {"floor", no_argument, NULL, 'f'},
        {"samples", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bench b = {.size = 256ull << 20, .pattern = PAT_BOTH, .passes = 1,
                      .seed = 1};
    struct wl_opts wo = {BK_RMEM, "127.0.0.1:11211", 0};
    uint64_t limit = 32ull << 20, v, samples = 2000;
    bool size_set = false, limit_set = false, floor = false;
    int c, li, ret = 0;

    rmem_options_init(&b.ro);
    while (li = -1, (c = getopt_long(argc, argv, "s:h", longopts, &li)) != -1) {
        switch (c) {
        case 's': b.ro.server = optarg; break;
        case 'S':
            if (rmem__parse_size(optarg, &b.size) || b.size < PAGE)
                goto bad_arg;
            size_set = true;
            break;
        case 'l':
            if (rmem__parse_size(optarg, &limit))
                goto bad_arg;
            limit_set = true;
            break;
        case 'p':
            if (strcmp(optarg, "seq") == 0)
                b.pattern = PAT_SEQ;
            else if (strcmp(optarg, "random") == 0)
                b.pattern = PAT_RANDOM;
            else if (strcmp(optarg, "both") == 0)
                b.pattern = PAT_BOTH;
            else
                goto bad_arg;
            break;
        case 'n':
            if (parse_u64(optarg, &v) || v < 1 || v > 1000000)
                goto bad_arg;
            b.passes = (unsigned)v;
            break;
        case 'r':
            if (parse_u64(optarg, &b.seed))
                goto bad_arg;
            break;
        case 'P':
            if (parse_u64(optarg, &v) || v > 65536)
                goto bad_arg;
            b.ro.prefetch_max = (unsigned)v;
            break;
        case 'T':
            if (parse_u64(optarg, &v) || v < 1 || v > 64)
                goto bad_arg;
            b.ro.fault_threads = (unsigned)v;
            break;
        case 'j': b.json = true; break;
        case 'w':
            wo.mask = wl_parse_list(optarg);
            if (!wo.mask)
                goto bad_arg;
            break;
        case 'b':
            if (strcmp(optarg, "local") == 0)
                wo.backend = BK_LOCAL;
            else if (strcmp(optarg, "rmem") == 0)
                wo.backend = BK_RMEM;
            else if (strcmp(optarg, "memcached") == 0)
                wo.backend = BK_MEMCACHED;
            else
                goto bad_arg;
            break;
        case 'm': wo.memcached = optarg; break;
        case 'f': floor = true; break;
        case 'N':
            if (parse_u64(optarg, &v) || v < 1 || v > 1000000)
                goto bad_arg;
            samples = v;
            break;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_USAGE;
        }
        continue;
bad_arg:
        fprintf(stderr, "rmem-bench: bad value '%s' for --%s\n", optarg,
                li >= 0 ? longopts[li].name : "?");
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "rmem-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (wo.mask && !size_set)
        b.size = 1ull << 30;
    if (wo.mask && !limit_set)
        limit = 256ull << 20;
    b.size = (b.size + PAGE - 1) / PAGE * PAGE;
    b.pages = b.size / PAGE;
    b.ro.local_limit = (size_t)limit;
    if (floor)
        return floor_run(&b, samples) ? EXIT_FAILURE : EXIT_SUCCESS;
    if (wo.mask)
        return wl_run(&b, &wo) ? EXIT_FAILURE : EXIT_SUCCESS;

    if (b.json)
        printf("{\"server\": \"%s\", \"size_bytes\": %" PRIu64 ", \"limit_bytes\": %"
               PRIu64 ", \"page_size\": %u, \"pages\": %" PRIu64 ", \"passes\": %u"
               ", \"seed\": %" PRIu64 ", \"phases\": [",
               b.ro.server, b.size, limit, PAGE, b.pages, b.passes, b.seed);
    else
        printf("rmem-bench: %" PRIu64 " MiB (%" PRIu64 " pages) through a %" PRIu64
               " MiB local limit, server %s, %u pass%s, seed %" PRIu64 "\n",
               b.size >> 20, b.pages, limit >> 20, b.ro.server, b.passes,
               b.passes == 1 ? "" : "es", b.seed);
    fflush(stdout);
    for (enum pattern p = PAT_SEQ; p <= PAT_RANDOM && ret == 0; p <<= 1)
        if (b.pattern & p)
            ret = run_pattern(&b, p);
    if (b.json)
        printf("\n  ], \"verified\": %s}\n", ret == 0 ? "true" : "false");
    else if (ret == 0)
        printf("rmem-bench: every page verified\n");
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
