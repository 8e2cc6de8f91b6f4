/* mm_bench.c - microbenchmarks of mm/'s allocators beside glibc's.
 *
 *   build/mm-bench [--runs N] [--ops N]
 *
 * Each case allocates a batch of 64 objects (or blocks) and frees them
 * again, the way a server's requests come and go, and reports the
 * nanoseconds of one alloc+free pair: the median over --runs runs of
 * --ops pairs each.  Every object gets one byte written, so no allocator
 * is credited for memory it never hands out.  Cases: the buddy allocator
 * at order 0 and 9 (through mm_alloc_pages, watermarks and NUMA counters
 * included), slab caches of 64 B, 256 B and 4 KiB objects with freed
 * objects poisoned (the default) and without, and malloc/free of the
 * same sizes.  mm_check() runs after each case: a benchmark that breaks
 * an invariant exits 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define BATCH 64

struct bench {
    struct mm *mm;
    unsigned runs;
    unsigned long ops;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One case: run(ctx, batches) does batches * BATCH alloc+free pairs. */
typedef int (*bench_fn)(struct bench *b, void *arg, unsigned long batches);

static double median_ns(struct bench *b, bench_fn fn, void *arg)
{
    unsigned long batches = (b->ops + BATCH - 1) / BATCH;
    double samples[64];
    unsigned runs = b->runs < 64 ? b->runs : 64;

    if (fn(b, arg, batches / 10 + 1))           /* warm up */
        return -1;
    for (unsigned r = 0; r < runs; r++) {
        uint64_t t0 = now_ns();

        if (fn(b, arg, batches))
            return -1;
        samples[r] = (double)(now_ns() - t0) / (double)(batches * BATCH);
    }
    qsort(samples, runs, sizeof(samples[0]), cmp_double);
    return samples[runs / 2];
}

static int run_buddy(struct bench *b, void *arg, unsigned long batches)
{
    unsigned order = *(unsigned *)arg;
    pfn_t pfns[BATCH];

    for (unsigned long i = 0; i < batches; i++) {
        for (int k = 0; k < BATCH; k++) {
            if (mm_alloc_pages(b->mm, order, ALLOC_DATA, &pfns[k]))
                return -ENOMEM;
        }
        for (int k = 0; k < BATCH; k++)
            mm_free_pages(b->mm, pfns[k], order);
    }
    return 0;
}

static int run_slab(struct bench *b, void *arg, unsigned long batches)
{
    struct slab_cache *c = arg;
    unsigned char *objs[BATCH];

    (void)b;
    for (unsigned long i = 0; i < batches; i++) {
        for (int k = 0; k < BATCH; k++) {
            objs[k] = slab_alloc(c);
            if (!objs[k])
                return -ENOMEM;
            objs[k][0] = (unsigned char)k;
        }
        for (int k = 0; k < BATCH; k++)
            slab_free(c, objs[k]);
    }
    return 0;
}

static int run_malloc(struct bench *b, void *arg, unsigned long batches)
{
    size_t size = *(size_t *)arg;
    unsigned char *volatile objs[BATCH];

    (void)b;
    for (unsigned long i = 0; i < batches; i++) {
        for (int k = 0; k < BATCH; k++) {
            objs[k] = malloc(size);
            if (!objs[k])
                return -ENOMEM;
            objs[k][0] = (unsigned char)k;
        }
        for (int k = 0; k < BATCH; k++)
            free(objs[k]);
    }
    return 0;
}

static int checked(struct bench *b, const char *what, double ns)
{
    if (ns < 0) {
        fprintf(stderr, "mm-bench: %s: allocation failed\n", what);
        return -1;
    }
    if (mm_check(b->mm)) {
        fprintf(stderr, "mm-bench: %s: mm_check failed\n", what);
        return -1;
    }
    return 0;
}

static int bench_slab_size(struct bench *b, size_t size, double out[3])
{
    struct slab_cache *c = NULL;
    char name[32];
    int err;

    snprintf(name, sizeof(name), "bench-%zu", size);
    err = slab_cache_create(b->mm, name, size, 0, &c);
    if (err) {
        fprintf(stderr, "mm-bench: slab_cache_create %zu: %s\n", size, strerror(-err));
        return -1;
    }
    mm_slab_set_poison(b->mm, true);
    out[0] = median_ns(b, run_slab, c);
    if (checked(b, name, out[0]))
        return -1;
    mm_slab_set_poison(b->mm, false);
    out[1] = median_ns(b, run_slab, c);
    mm_slab_set_poison(b->mm, true);
    if (checked(b, name, out[1]))
        return -1;
    out[2] = median_ns(b, run_malloc, &size);
    if (out[2] < 0)
        return -1;
    return slab_cache_destroy(c) ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 64, 256, 4096 };
    struct mm_config cfg = { .pool_bytes = 512ull << 20,
                             .policy = MM_NUMA_INTERLEAVE };
    struct bench b = { NULL, 7, 50000 };
    unsigned orders[] = { 0, 9 };
    int err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            b.runs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            b.ops = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: mm-bench [--runs N] [--ops N]\n");
            return 2;
        }
    }
    if (b.runs == 0 || b.runs > 64 || b.ops == 0) {
        fprintf(stderr, "mm-bench: --runs 1..64, --ops > 0\n");
        return 2;
    }
    err = mm_create(&cfg, &b.mm);
    if (err) {
        fprintf(stderr, "mm-bench: mm_create: %s\n", strerror(-err));
        return 1;
    }
    printf("mm-bench: ns per alloc+free pair, batches of %d, median of %u runs "
           "of %lu pairs\n\n", BATCH, b.runs, b.ops);
    printf("%-22s %12s\n", "buddy (mm_alloc_pages)", "ns/op");
    for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        char what[32];
        double ns = median_ns(&b, run_buddy, &orders[i]);

        snprintf(what, sizeof(what), "order %u (%u KiB)", orders[i],
                 (MM_PAGE_SIZE << orders[i]) / 1024);
        if (checked(&b, what, ns))
            goto err_destroy;
        printf("%-22s %12.1f\n", what, ns);
    }
    printf("\n%-22s %12s %12s %12s\n", "object size", "slab", "slab", "malloc");
    printf("%-22s %12s %12s %12s\n", "", "(poison)", "(no poison)", "(glibc)");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double ns[3];
        char what[32];

        if (bench_slab_size(&b, sizes[i], ns))
            goto err_destroy;
        snprintf(what, sizeof(what), "%zu B", sizes[i]);
        printf("%-22s %12.1f %12.1f %12.1f\n", what, ns[0], ns[1], ns[2]);
    }
    mm_destroy(b.mm);
    return 0;

err_destroy:
    mm_destroy(b.mm);
    return 1;
}
