/* The workloads of rmem-bench: one program logic that every paging system
 * runs unchanged, so that only the memory behind the pointer differs.
 *
 * Each workload first fills its mapping (untimed: that is where each
 * backend's pages first go out), then times its own part:
 *   seq     reads every word of every page in order, then increments every
 *           word in order (a read scan, then a write scan);
 *   random  `pages` accesses to uniformly random pages, each reading one
 *           word and every other one incrementing it;
 *   zipf    the same accesses with pages drawn from a Zipf(0.99)
 *           distribution (YCSB's generator, ranks scattered over the
 *           mapping so hot pages are not neighbours);
 *   sort    an in-place quicksort of the whole mapping as 64-bit keys - a
 *           real program that knows nothing of paging - checked afterwards
 *           (untimed) for order and for the sum of its keys.
 * Every workload returns a checksum of what it read; with one seed it is
 * the same on every backend, so a pager that loses or mixes up a page is
 * caught by comparing checksums across configurations. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static const char *const names[WL_COUNT] = {"seq", "random", "zipf", "sort"};

const char *bench_workload_name(enum bench_workload w)
{
    return w < WL_COUNT ? names[w] : "?";
}

int bench_workload_parse(const char *s, enum bench_workload *w)
{
    for (int i = 0; i < WL_COUNT; i++)
        if (strcmp(s, names[i]) == 0) {
            *w = (enum bench_workload)i;
            return 0;
        }
    return -EINVAL;
}

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A 32-bit value per word: the high half of every word is zero, so a page
 * compresses roughly 2:1 rather than not at all. */
uint64_t bench_workload_fill(enum bench_workload w, uint64_t *map,
                             uint64_t pages, uint64_t seed)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dull + (uint64_t)w, sum = 0;

    for (uint64_t i = 0; i < pages * BENCH_WORDS; i++) {
        map[i] = splitmix64(&s) & 0xffffffffull;
        sum += map[i];
    }
    return sum;
}

/* ---- access patterns ------------------------------------------------- */

/* Zipf over [0, n) after Gray et al., "Quickly generating billion-record
 * synthetic databases" (the generator YCSB uses). */
struct zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, half_pow;
};

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
    double zeta2 = 1.0 + pow(0.5, theta);

    z->n = n;
    z->theta = theta;
    z->zetan = 0;
    for (uint64_t i = 1; i <= n; i++)
        z->zetan += 1.0 / pow((double)i, theta);
    z->alpha = 1.0 / (1.0 - theta);
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
    z->half_pow = 1.0 + pow(0.5, theta);
}

static uint64_t zipf_next(const struct zipf *z, uint64_t *rng)
{
    double u = (double)(splitmix64(rng) >> 11) / 9007199254740992.0;
    double uz = u * z->zetan;
    uint64_t r;

    if (uz < 1.0)
        return 0;
    if (uz < z->half_pow)
        return 1 % z->n;
    r = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return r < z->n ? r : z->n - 1;
}

/* Rank -> page: multiplication by a prime is a bijection modulo any n it
 * does not divide, so the hottest pages land far apart. */
static uint64_t scatter(uint64_t rank, uint64_t n)
{
    return (uint64_t)((unsigned __int128)rank * 2654435761u % n);
}

static uint64_t run_touches(uint64_t *map, uint64_t pages, uint64_t seed,
                            const struct zipf *z)
{
    uint64_t rng = seed ^ 0x5bd1e995ull, sum = 0;

    for (uint64_t i = 0; i < pages; i++) {
        uint64_t p = z ? scatter(zipf_next(z, &rng), pages)
                       : splitmix64(&rng) % pages;
        uint64_t *w = &map[p * BENCH_WORDS + splitmix64(&rng) % BENCH_WORDS];
        uint64_t v = *(volatile uint64_t *)w;

        sum = sum * 31 + v;
        if (i & 1)
            *(volatile uint64_t *)w = v + 1;
    }
    return sum;
}

static uint64_t run_seq(uint64_t *map, uint64_t pages)
{
    uint64_t n = pages * BENCH_WORDS, sum = 0;

    for (uint64_t i = 0; i < n; i++)
        sum += ((volatile uint64_t *)map)[i] ^ i;
    for (uint64_t i = 0; i < n; i++)
        map[i] += 1;
    return sum;
}

/* ---- sort ------------------------------------------------------------ */

static void swap_keys(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;

    *a = *b;
    *b = t;
}

static void insertion_sort(uint64_t *a, uint64_t n)
{
    for (uint64_t i = 1; i < n; i++) {
        uint64_t v = a[i], j = i;

        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

/* Hoare partition around the median of three; returns the split point:
 * [0, m) <= pivot <= [m, n). */
static uint64_t partition(uint64_t *a, uint64_t n)
{
    uint64_t mid = (n - 1) / 2, pivot, i = 0, j = n - 1;

    if (a[mid] < a[0])
        swap_keys(&a[mid], &a[0]);
    if (a[n - 1] < a[0])
        swap_keys(&a[n - 1], &a[0]);
    if (a[n - 1] < a[mid])
        swap_keys(&a[n - 1], &a[mid]);
    pivot = a[mid];
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (a[j] > pivot)
            j--;
        if (i >= j)
            return j + 1;
        swap_keys(&a[i++], &a[j--]);
    }
}

/* Quicksort with an explicit stack: the larger side is pushed and the
 * smaller one sorted next, so 64 entries cover any 64-bit length. */
static void quicksort(uint64_t *a, uint64_t n)
{
    struct { uint64_t *a; uint64_t n; } stack[64];
    int top = 0;

    for (;;) {
        while (n > 16) {
            uint64_t m = partition(a, n);

            if (m < n - m) {
                stack[top].a = a + m;
                stack[top++].n = n - m;
                n = m;
            } else {
                stack[top].a = a;
                stack[top++].n = m;
                a += m;
                n -= m;
            }
        }
        insertion_sort(a, n);
        if (top == 0)
            return;
        top--;
        a = stack[top].a;
        n = stack[top].n;
    }
}

/* Checks order and that the keys are the ones that went in; the checksum
 * weighs each key by its position, so it is the same only for the same
 * sorted result. */
static int sort_verify(const uint64_t *a, uint64_t n, uint64_t sum_before,
                       uint64_t *checksum)
{
    uint64_t sum = 0, weighed = 0;

    for (uint64_t i = 0; i < n; i++) {
        if (i && a[i - 1] > a[i]) {
            fprintf(stderr, "rmem-bench: sort: keys %" PRIu64 " and %" PRIu64
                    " out of order (%#" PRIx64 " > %#" PRIx64 ")\n",
                    i - 1, i, a[i - 1], a[i]);
            return -1;
        }
        sum += a[i];
        weighed += a[i] * (i | 1);
    }
    if (sum != sum_before) {
        fprintf(stderr, "rmem-bench: sort: the keys changed (sum %#" PRIx64
                " before, %#" PRIx64 " after)\n", sum_before, sum);
        return -1;
    }
    *checksum = weighed;
    return 0;
}

void bench_workload_run(enum bench_workload w, uint64_t *map, uint64_t pages,
                        uint64_t seed, struct bench_result *res)
{
    uint64_t n = pages * BENCH_WORDS;
    struct zipf z;
    double t0;

    if (w == WL_ZIPF)
        zipf_init(&z, pages, 0.99);
    res->touches = w == WL_SORT ? n : pages;
    res->checksum = 0;
    t0 = bench_now();
    switch (w) {
    case WL_SEQ:    res->checksum = run_seq(map, pages); break;
    case WL_RANDOM: res->checksum = run_touches(map, pages, seed, NULL); break;
    case WL_ZIPF:   res->checksum = run_touches(map, pages, seed, &z); break;
    case WL_SORT:   quicksort(map, n); break;
    default:        break;
    }
    res->seconds = bench_now() - t0;
}

int bench_workload_check(enum bench_workload w, const uint64_t *map,
                         uint64_t pages, uint64_t fill_sum,
                         struct bench_result *res)
{
    if (w == WL_SORT)
        return sort_verify(map, pages * BENCH_WORDS, fill_sum, &res->checksum);
    return 0;
}
