/* sort: sort more 64-bit integers than the local limit lets this process
 * hold, in remote memory mapped with librmem.
 *
 *   sort [-s HOST:PORT] [--size SIZE] [--limit SIZE] [--seed N]
 *
 * An external merge sort, where "external" is rmemd: the input buffer A is
 * cut into runs of half the local limit; each run is generated from a
 * seeded PRNG and sorted in place while it is still resident (quicksort
 * with an insertion-sort finish), so phase 1 touches every page once and
 * pages it out once.  Phase 2 is one k-way merge (a binary heap of run
 * heads) from A into a second remote buffer B: k+1 sequential streams, a
 * page of each resident at a time, so the working set is everything while
 * the resident set stays small.  Phase 3 unmaps A and reads B once to check
 * that it is sorted and is a permutation of what was generated: the sum,
 * the xor and a sum of a mixed hash of the elements must all match.
 *
 * Prints elapsed time and the rmem_stat figures of each phase and of the
 * whole run.  Exit status 0 only when the result verified. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../rmem.h"          /* installed: <rmem.h> */

#define PAGE 4096u
#define PER_PAGE (PAGE / sizeof(uint64_t))

struct checksum {
    uint64_t sum, xor, mix;
};

struct sorter {
    rmem_client *c;
    uint64_t n;                     /* elements */
    uint64_t run_len;               /* elements per run */
    uint64_t *a, *b;                /* remote buffers, n elements each */
    uint64_t seed;
    struct checksum made;
    struct rmem_stat st0;           /* at the start, for the totals */
    double t0;
};

/* ---- helpers --------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void checksum_add(struct checksum *cs, uint64_t x)
{
    uint64_t s = x;

    cs->sum += x;
    cs->xor ^= x;
    cs->mix += splitmix64(&s);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int get_stat(rmem_client *c, struct rmem_stat *st)
{
    if (rmem_stat(c, st) < 0) {
        fprintf(stderr, "sort: rmem_stat: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Counters grown since a; p50/p99 and rss as they are now (b). */
static void print_stat(const char *indent, const struct rmem_stat *a,
                       const struct rmem_stat *b)
{
    printf("%sfaults %" PRIu64 " (remote %" PRIu64 ", zero %" PRIu64 ", wp %" PRIu64
           "), evictions %" PRIu64 ", write-backs %" PRIu64 ", prefetched %" PRIu64
           " (hits %" PRIu64 ")\n",
           indent, b->faults - a->faults, b->faults_remote - a->faults_remote,
           b->faults_zero - a->faults_zero, b->faults_wp - a->faults_wp,
           b->evictions - a->evictions, b->writebacks - a->writebacks,
           b->prefetched - a->prefetched, b->prefetch_hits - a->prefetch_hits);
    printf("%sbytes in %.1f MiB, out %.1f MiB; remote fault p50 %.1f us, p99 %.1f us; "
           "rss %.1f MiB\n",
           indent, (double)(b->bytes_in - a->bytes_in) / 1048576.0,
           (double)(b->bytes_out - a->bytes_out) / 1048576.0,
           (double)b->fault_ns_p50 / 1e3, (double)b->fault_ns_p99 / 1e3,
           (double)b->rss / 1048576.0);
}

/* "256 MiB", "512 KiB", "1000 B" */
static const char *human(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, cap, "%" PRIu64 " MiB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, cap, "%" PRIu64 " KiB", bytes >> 10);
    else
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
    return buf;
}

/* ---- phase 1: runs --------------------------------------------------- */

static void insertion_sort(uint64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        size_t j = i;

        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static void sift_down(uint64_t *v, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        uint64_t t;

        if (c >= n)
            return;
        if (c + 1 < n && v[c + 1] > v[c])
            c++;
        if (v[i] >= v[c])
            return;
        t = v[i], v[i] = v[c], v[c] = t;
        i = c;
    }
}

static void heap_sort(uint64_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(v, n, i);
    for (size_t i = n; i-- > 1;) {
        uint64_t t = v[0];

        v[0] = v[i], v[i] = t;
        sift_down(v, i, 0);
    }
}

/* Introsort: quicksort on a median of three, recursing into the smaller
 * side, heapsort past a depth bound, insertion sort for short ranges. */
static void intro_sort(uint64_t *v, size_t n, unsigned depth)
{
    while (n > 24) {
        uint64_t pivot, t;
        size_t i, j, m = n / 2;

        if (depth-- == 0) {
            heap_sort(v, n);
            return;
        }
        if (v[m] < v[0]) t = v[m], v[m] = v[0], v[0] = t;
        if (v[n - 1] < v[0]) t = v[n - 1], v[n - 1] = v[0], v[0] = t;
        if (v[n - 1] < v[m]) t = v[n - 1], v[n - 1] = v[m], v[m] = t;
        pivot = v[m];
        i = 0;
        j = n - 1;
        for (;;) {                  /* Hoare partition */
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i >= j)
                break;
            t = v[i], v[i] = v[j], v[j] = t;
            i++;
            j--;
        }
        /* [0, j] <= pivot <= [j+1, n) */
        if (j + 1 < n - j - 1) {
            intro_sort(v, j + 1, depth);
            v += j + 1;
            n -= j + 1;
        } else {
            intro_sort(v + j + 1, n - j - 1, depth);
            n = j + 1;
        }
    }
    insertion_sort(v, n);
}

static void make_runs(struct sorter *s)
{
    uint64_t rng = s->seed;

    for (uint64_t first = 0; first < s->n; first += s->run_len) {
        uint64_t len = s->n - first < s->run_len ? s->n - first : s->run_len;
        uint64_t *v = s->a + first;

        for (uint64_t i = 0; i < len; i++) {
            v[i] = splitmix64(&rng);
            checksum_add(&s->made, v[i]);
        }
        intro_sort(v, len, 2 * 64);
    }
}

/* ---- phase 2: merge -------------------------------------------------- */

struct head {
    uint64_t key;
    uint64_t pos, end;              /* this run's next element and its end */
};

static void head_sift(struct head *h, size_t k, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        struct head t;

        if (c >= k)
            return;
        if (c + 1 < k && h[c + 1].key < h[c].key)
            c++;
        if (h[i].key <= h[c].key)
            return;
        t = h[i], h[i] = h[c], h[c] = t;
        i = c;
    }
}

static int merge_runs(struct sorter *s, size_t *runs)
{
    size_t k = (size_t)((s->n + s->run_len - 1) / s->run_len);
    struct head *h = calloc(k, sizeof(*h));
    uint64_t out = 0;

    if (!h) {
        fprintf(stderr, "sort: out of memory for %zu run heads\n", k);
        return -1;
    }
    for (size_t r = 0; r < k; r++) {
        h[r].pos = r * s->run_len;
        h[r].end = h[r].pos + s->run_len < s->n ? h[r].pos + s->run_len : s->n;
        h[r].key = s->a[h[r].pos];
    }
    for (size_t i = k / 2; i-- > 0;)
        head_sift(h, k, i);
    *runs = k;
    while (k > 0) {
        s->b[out++] = h[0].key;
        if (++h[0].pos < h[0].end)
            h[0].key = s->a[h[0].pos];
        else
            h[0] = h[--k];
        head_sift(h, k, 0);
    }
    free(h);
    return 0;
}

/* ---- phase 3: verify ------------------------------------------------- */

static bool verify(const struct sorter *s, struct checksum *got)
{
    bool sorted = true;

    memset(got, 0, sizeof(*got));
    for (uint64_t i = 0; i < s->n; i++) {
        if (i > 0 && s->b[i - 1] > s->b[i] && sorted) {
            fprintf(stderr, "sort: not sorted at element %" PRIu64 ": %#" PRIx64
                    " > %#" PRIx64 "\n", i, s->b[i - 1], s->b[i]);
            sorted = false;
        }
        checksum_add(got, s->b[i]);
    }
    if (got->sum != s->made.sum || got->xor != s->made.xor || got->mix != s->made.mix) {
        fprintf(stderr, "sort: not a permutation of the input: sum %#" PRIx64
                " xor %#" PRIx64 " mix %#" PRIx64 ", generated sum %#" PRIx64
                " xor %#" PRIx64 " mix %#" PRIx64 "\n", got->sum, got->xor,
                got->mix, s->made.sum, s->made.xor, s->made.mix);
        return false;
    }
    return sorted;
}

/* ---- main ------------------------------------------------------------ */

static int parse_size(const char *arg, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (errno || end == arg || *arg == '-')
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sort [-s HOST:PORT] [--size SIZE] [--limit SIZE] [--seed N]\n"
        "  -s, --server HOST:PORT  rmemd (default $RMEM_SERVER or 127.0.0.1:7070)\n"
        "      --size SIZE         bytes of 64-bit integers to sort (default 256M)\n"
        "      --limit SIZE        local limit (default 32M)\n"
        "      --seed N            PRNG seed (default 42)\n");
}

/* Ends a phase: prints its time and figures, and makes now its start. */
static int phase_end(struct sorter *s, const char *what, const char *desc,
                     double *t, struct rmem_stat *st)
{
    struct rmem_stat cur;
    double t1 = now();

    if (get_stat(s->c, &cur))
        return -1;
    printf("%-7s %7.2f s  %s\n", what, t1 - *t, desc);
    print_stat("                   ", st, &cur);
    *st = cur;
    *t = t1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sorter s = {.seed = 42};
    uint64_t size = 256ull << 20, limit = 32ull << 20, bytes;
    struct rmem_stat st, end;
    struct checksum got;
    rmem_options o;
    char h1[32], h2[32], h3[32];
    size_t runs = 0;
    bool ok = false;
    double t;
    int c;

    rmem_options_init(&o);
    while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.server = optarg; break;
        case 'S':
            if (parse_size(optarg, &size) || size < PAGE)
                goto bad_arg;
            break;
        case 'l':
            if (parse_size(optarg, &limit))
                goto bad_arg;
            break;
        case 'r': {
            char *e;

            errno = 0;
            s.seed = strtoull(optarg, &e, 0);
            if (errno || e == optarg || *e)
                goto bad_arg;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        continue;
bad_arg:
        fprintf(stderr, "sort: bad value '%s'\n", optarg);
        return 2;
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    o.local_limit = (size_t)limit;
    s.n = size / sizeof(uint64_t);
    bytes = s.n * sizeof(uint64_t);
    /* Half the limit per run leaves the other half for what is still being
     * written back; whole pages so runs never share one. */
    s.run_len = (limit ? limit / 2 : bytes) / sizeof(uint64_t) / PER_PAGE * PER_PAGE;
    if (s.run_len < PER_PAGE)
        s.run_len = PER_PAGE;
    if (s.run_len > s.n)
        s.run_len = s.n;

    s.c = rmem_connect(&o);
    if (!s.c) {
        fprintf(stderr, "sort: connecting to %s: %s\n", o.server, strerror(errno));
        return 1;
    }
    s.a = rmem_mmap(s.c, NULL, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    s.b = s.a == MAP_FAILED ? MAP_FAILED :
          rmem_mmap(s.c, NULL, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    if (s.a == MAP_FAILED || s.b == MAP_FAILED) {
        fprintf(stderr, "sort: rmem_mmap of 2 x %" PRIu64 " bytes: %s\n", bytes,
                strerror(errno));
        goto out;
    }
    printf("sort: %" PRIu64 " integers (%s) in remote memory at %s, local limit %s, "
           "runs of %s\n", s.n, human(bytes, h1, sizeof(h1)), o.server,
           limit ? human(limit, h2, sizeof(h2)) : "none",
           human(s.run_len * 8, h3, sizeof(h3)));
    fflush(stdout);
    if (get_stat(s.c, &st))
        goto out;
    s.st0 = st;
    s.t0 = t = now();

    make_runs(&s);
    if (phase_end(&s, "runs", "generate each run and sort it in place", &t, &st))
        goto out;
    if (merge_runs(&s, &runs))
        goto out;
    if (phase_end(&s, "merge", "one k-way merge of the runs from A into B", &t, &st))
        goto out;
    /* A is done with: give its pages back before reading B. */
    if (rmem_munmap(s.c, s.a, bytes) < 0) {
        fprintf(stderr, "sort: rmem_munmap: %s\n", strerror(errno));
        goto out;
    }
    s.a = MAP_FAILED;
    ok = verify(&s, &got);
    if (phase_end(&s, "verify", "read B: order and checksums", &t, &st) || get_stat(s.c, &end))
        goto out;

    printf("total   %7.2f s  %zu runs merged; %s\n", now() - s.t0, runs,
           ok ? "sorted permutation verified" : "VERIFICATION FAILED");
    printf("    faults %" PRIu64 ", remote faults %" PRIu64 ", zero faults %" PRIu64
           ", WP faults %" PRIu64 "\n", end.faults - s.st0.faults,
           end.faults_remote - s.st0.faults_remote, end.faults_zero - s.st0.faults_zero,
           end.faults_wp - s.st0.faults_wp);
    printf("    evictions %" PRIu64 ", write-backs %" PRIu64 ", prefetched %" PRIu64
           " (hits %" PRIu64 ")\n", end.evictions - s.st0.evictions,
           end.writebacks - s.st0.writebacks, end.prefetched - s.st0.prefetched,
           end.prefetch_hits - s.st0.prefetch_hits);
    printf("    bytes in %" PRIu64 ", bytes out %" PRIu64 "\n",
           end.bytes_in - s.st0.bytes_in, end.bytes_out - s.st0.bytes_out);
    printf("    remote fault p50 %.1f us, p99 %.1f us\n",
           (double)end.fault_ns_p50 / 1e3, (double)end.fault_ns_p99 / 1e3);
    printf("    checksum sum %#" PRIx64 " xor %#" PRIx64 "\n", got.sum, got.xor);
    if (limit && 2 * bytes > limit && end.evictions == s.st0.evictions)
        printf("    note: nothing was evicted: the %s local limit was not enforced\n",
               human(limit, h2, sizeof(h2)));
out:
    if (s.a && s.a != MAP_FAILED)
        rmem_munmap(s.c, s.a, bytes);
    if (s.b && s.b != MAP_FAILED)
        rmem_munmap(s.c, s.b, bytes);
    rmem_disconnect(s.c);
    return ok ? 0 : 1;
}
