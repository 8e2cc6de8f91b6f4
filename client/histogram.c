/* Latency percentiles in constant space: log-linear buckets, eight per
 * power of two, like HdrHistogram at low precision.  A percentile is
 * reported as its bucket's midpoint, within 7% of the true value. */
#include "internal.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned e;

    if (v < 8)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);           /* v in [2^e, 2^(e+1)) */
    return e * 8 + (unsigned)((v >> (e - 3)) & 7);
}

static uint64_t bucket_mid(unsigned b)
{
    unsigned e = b / 8, m = b % 8;

    if (b < 8)
        return b;
    return ((8ull + m) << (e - 3)) + (e > 3 ? (1ull << (e - 4)) : 0);
}

void rmem__hist_add(struct rmem__hist *h, uint64_t ns)
{
    h->bucket[bucket_of(ns)]++;
    h->count++;
}

uint64_t rmem__hist_percentile(const struct rmem__hist *h, double pct)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    rank = (uint64_t)(pct / 100.0 * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (unsigned b = 0; b < RMEM__HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen > rank)
            return bucket_mid(b);
    }
    return 0;
}
