/* memcg_file.c - a memcg's cgroup v1 files: memory.limit_in_bytes and kin.
 *
 * One table names every file with its reader and writer, so `cgroup get`
 * with no key, a bad key and a read-only key are all decided here, and the
 * server only passes strings through.  Contents are byte for byte what
 * Linux's memcontrol-v1.c prints (values in bytes, memory.stat as `key
 * value` lines, an unlimited limit as 9223372036854771712, PAGE_COUNTER_MAX
 * pages); values are parsed as Linux's memparse (K/M/G/T suffixes, "-1" =
 * unlimited).  memory.pressure_level is readable here (Linux only offers
 * it for eventfd notification; vmpressure.c keeps the level);
 * memory.reserved_in_bytes is rmem's own. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* LONG_MAX rounded down to a page: how Linux prints "no limit". */
#define MEMCG_UNLIMITED_BYTES (INT64_MAX / MM_PAGE_SIZE * MM_PAGE_SIZE)

struct out {
    char *buf;
    size_t len, used;
    bool truncated;
};

static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->len - o->used) {
        o->truncated = true;
        o->used = o->len - 1;
        return;
    }
    o->used += (size_t)n;
}

static uint64_t pages_to_bytes(uint64_t pages)
{
    if (pages == MEMCG_UNLIMITED || pages >= MEMCG_UNLIMITED_BYTES / MM_PAGE_SIZE)
        return MEMCG_UNLIMITED_BYTES;
    return pages * MM_PAGE_SIZE;
}

/* Linux's memparse() + page_counter_memparse(): "-1" is unlimited, a
 * number may end in K, M, G or T (either case) and a newline. */
static int parse_pages(const char *s, uint64_t *pages)
{
    uint64_t v = 0, mult = 1;
    const char *p = s;
    size_t n;

    if (strcmp(s, "-1") == 0 || strcmp(s, "-1\n") == 0) {
        *pages = MEMCG_UNLIMITED;
        return 0;
    }
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    switch (*p) {
    case 'k': case 'K': mult = 1ull << 10; p++; break;
    case 'm': case 'M': mult = 1ull << 20; p++; break;
    case 'g': case 'G': mult = 1ull << 30; p++; break;
    case 't': case 'T': mult = 1ull << 40; p++; break;
    default: break;
    }
    n = strlen(p);
    if (n > 1 || (n == 1 && *p != '\n'))
        return -EINVAL;
    if (v > UINT64_MAX / mult)
        return -EINVAL;
    v *= mult;
    /* Linux clamps to PAGE_COUNTER_MAX: anything that large is no limit. */
    *pages = v >= MEMCG_UNLIMITED_BYTES ? MEMCG_UNLIMITED : v / MM_PAGE_SIZE;
    return 0;
}

/* Only "0" resets a counter (failcnt, max_usage_in_bytes). */
static int parse_zero(const char *s)
{
    return strcmp(s, "0") == 0 || strcmp(s, "0\n") == 0 ? 0 : -EINVAL;
}

/* ---- readers ---------------------------------------------------------- */

static void read_usage(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->usage * MM_PAGE_SIZE);
}

static void read_max_usage(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->max_usage * MM_PAGE_SIZE);
}

static void read_limit(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", pages_to_bytes(cg->limit));
}

static void read_failcnt(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->failcnt);
}

static void read_memsw_usage(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", memcg_memsw_usage(cg) * MM_PAGE_SIZE);
}

static void read_memsw_max_usage(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->memsw_max_usage * MM_PAGE_SIZE);
}

static void read_memsw_limit(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", pages_to_bytes(cg->memsw_limit));
}

static void read_memsw_failcnt(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->memsw_failcnt);
}

static void read_reserved(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%" PRIu64 "\n", cg->reserved * MM_PAGE_SIZE);
}

/* memory.stat as memcg1_stat_format() prints it: every v1 key, in v1's
 * order.  rmem has no hierarchy, so total_X == X.  Byte keys are bytes,
 * pg* keys are events.  cache is the resident pages of named segments (the
 * file-backed kind: the *_file lists), all of them shmem, as named
 * segments are rmem's POSIX shared memory; rss the rest of its usage
 * (anonymous segments), writeback its pages being written to swap, swap
 * its pages in swap slots, pgmajfault the reads that swapped a page in,
 * the four LRU keys the sizes of its lists (lru.c).  Nothing behind them,
 * printed as 0: rss_huge (segments are 4 KiB pages, whatever backs the
 * pool), mapped_file (the server does not see what clients map), dirty
 * (no page has a file to go back to: named segments, like shmem, go to
 * swap) and unevictable (nothing is pinned on the server).  After all of
 * v1's keys come rmem's additions, which v1 has no name for (read_stat). */
enum stat_kind {
    STAT_BYTES, STAT_EVENTS, STAT_LRU, STAT_LRU_PAIR, STAT_WRITEBACK, STAT_NONE
};

static const struct memcg_stat_key {
    const char *name;
    enum stat_kind kind;
    unsigned item;                      /* page counter, enum memcg_event
                                         * or enum lru_list */
} stat_keys[] = {
    {"cache", STAT_LRU_PAIR, LRU_INACTIVE_FILE},
    {"rss", STAT_BYTES, 0},
    {"rss_huge", STAT_NONE, 0},
    {"shmem", STAT_LRU_PAIR, LRU_INACTIVE_FILE},
    {"mapped_file", STAT_NONE, 0},
    {"dirty", STAT_NONE, 0},
    {"writeback", STAT_WRITEBACK, 0},
    {"swap", STAT_BYTES, 1},
    {"pgpgin", STAT_EVENTS, MEMCG_PGPGIN},
    {"pgpgout", STAT_EVENTS, MEMCG_PGPGOUT},
    {"pgfault", STAT_EVENTS, MEMCG_PGFAULT},
    {"pgmajfault", STAT_EVENTS, MEMCG_PGMAJFAULT},
    {"inactive_anon", STAT_LRU, LRU_INACTIVE_ANON},
    {"active_anon", STAT_LRU, LRU_ACTIVE_ANON},
    {"inactive_file", STAT_LRU, LRU_INACTIVE_FILE},
    {"active_file", STAT_LRU, LRU_ACTIVE_FILE},
    {"unevictable", STAT_NONE, 0},
};

#define NR_STAT_KEYS (sizeof(stat_keys) / sizeof(stat_keys[0]))

static uint64_t stat_value(const struct memcg *cg, const struct memcg_stat_key *k)
{
    switch (k->kind) {
    case STAT_BYTES:
        if (k->item)
            return cg->swap * MM_PAGE_SIZE;
        /* rss: every charged page that is not a named segment's */
        return (cg->usage - cg->lruvec.lists[LRU_INACTIVE_FILE].nr -
                cg->lruvec.lists[LRU_ACTIVE_FILE].nr) * MM_PAGE_SIZE;
    case STAT_EVENTS:
        return cg->events[k->item];
    case STAT_LRU:
        return cg->lruvec.lists[k->item].nr * MM_PAGE_SIZE;
    case STAT_LRU_PAIR:         /* inactive + active of the pair */
        return (cg->lruvec.lists[k->item].nr + cg->lruvec.lists[k->item + 1].nr) *
               MM_PAGE_SIZE;
    case STAT_WRITEBACK:
        return cg->nr_writeback * MM_PAGE_SIZE;
    case STAT_NONE:
        break;
    }
    return 0;
}

static void read_stat(const struct memcg *cg, struct out *o)
{
    for (size_t i = 0; i < NR_STAT_KEYS; i++)
        out_printf(o, "%s %" PRIu64 "\n", stat_keys[i].name,
                   stat_value(cg, &stat_keys[i]));
    out_printf(o, "hierarchical_memory_limit %" PRIu64 "\n",
               pages_to_bytes(cg->limit));
    out_printf(o, "hierarchical_memsw_limit %" PRIu64 "\n",
               pages_to_bytes(cg->memsw_limit));
    for (size_t i = 0; i < NR_STAT_KEYS; i++)
        out_printf(o, "total_%s %" PRIu64 "\n", stat_keys[i].name,
                   stat_value(cg, &stat_keys[i]));
    /* rmem's additions.  cgroup v2's names: pool bytes of its compressed
     * pages, and the bytes those pages hold uncompressed (both within swap
     * above). */
    out_printf(o, "zswap %" PRIu64 "\n", cg->zswap_bytes);
    out_printf(o, "zswapped %" PRIu64 "\n", cg->zswapped * MM_PAGE_SIZE);
    /* Linux's /proc/PID/ksm_merging_pages, for the tenant: its mappings
     * of KSM pages (a page count, as Linux's). */
    out_printf(o, "ksm_merging_pages %" PRIu64 "\n", cg->ksm_merging);
}

static void read_pressure(const struct memcg *cg, struct out *o)
{
    out_printf(o, "%s\n", memcg_pressure_level(cg));
}

static void read_oom_control(const struct memcg *cg, struct out *o)
{
    out_printf(o, "oom_kill_disable %d\nunder_oom %d\noom_kill %" PRIu64 "\n",
               cg->oom_kill_disable, cg->under_oom, cg->oom_kill);
}

/* ---- writers ---------------------------------------------------------- */

static int write_limit(struct memcg *cg, const char *v)
{
    uint64_t pages;
    int err = parse_pages(v, &pages);

    return err ? err : memcg_resize_limit(cg, false, pages);
}

static int write_memsw_limit(struct memcg *cg, const char *v)
{
    uint64_t pages;
    int err = parse_pages(v, &pages);

    return err ? err : memcg_resize_limit(cg, true, pages);
}

/* Linux's page_counter_reset_watermark(): back to the current usage. */
static int write_max_usage(struct memcg *cg, const char *v)
{
    int err = parse_zero(v);

    if (!err)
        cg->max_usage = cg->usage;
    return err;
}

static int write_memsw_max_usage(struct memcg *cg, const char *v)
{
    int err = parse_zero(v);

    if (!err)
        cg->memsw_max_usage = memcg_memsw_usage(cg);
    return err;
}

static int write_failcnt(struct memcg *cg, const char *v)
{
    int err = parse_zero(v);

    if (!err)
        cg->failcnt = 0;
    return err;
}

static int write_memsw_failcnt(struct memcg *cg, const char *v)
{
    int err = parse_zero(v);

    if (!err)
        cg->memsw_failcnt = 0;
    return err;
}

static int write_oom_control(struct memcg *cg, const char *v)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "0\n") == 0)
        cg->oom_kill_disable = false;
    else if (strcmp(v, "1") == 0 || strcmp(v, "1\n") == 0)
        cg->oom_kill_disable = true;
    else
        return -EINVAL;
    return 0;
}

static const struct memcg_file {
    const char *name;
    void (*read)(const struct memcg *cg, struct out *o);
    int (*write)(struct memcg *cg, const char *value);  /* NULL: read-only */
} files[] = {
    {"memory.usage_in_bytes", read_usage, NULL},
    {"memory.max_usage_in_bytes", read_max_usage, write_max_usage},
    {"memory.limit_in_bytes", read_limit, write_limit},
    {"memory.failcnt", read_failcnt, write_failcnt},
    {"memory.memsw.usage_in_bytes", read_memsw_usage, NULL},
    {"memory.memsw.max_usage_in_bytes", read_memsw_max_usage, write_memsw_max_usage},
    {"memory.memsw.limit_in_bytes", read_memsw_limit, write_memsw_limit},
    {"memory.memsw.failcnt", read_memsw_failcnt, write_memsw_failcnt},
    {"memory.stat", read_stat, NULL},
    {"memory.pressure_level", read_pressure, NULL},
    {"memory.oom_control", read_oom_control, write_oom_control},
    {"memory.reserved_in_bytes", read_reserved, NULL},
};

#define NR_FILES (sizeof(files) / sizeof(files[0]))

static const struct memcg_file *find_file(const char *name)
{
    for (size_t i = 0; i < NR_FILES; i++)
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

const char *memcg_file_name(unsigned i)
{
    return i < NR_FILES ? files[i].name : NULL;
}

int memcg_file_read(const struct memcg *cg, const char *name, char *buf,
                    size_t len)
{
    const struct memcg_file *f = name ? find_file(name) : NULL;
    struct out o = {buf, len, 0, false};

    if (!cg || !f || !buf || len == 0)
        return -EINVAL;
    buf[0] = '\0';
    f->read(cg, &o);
    return o.truncated ? -ENOSPC : 0;
}

int memcg_file_write(struct memcg *cg, const char *name, const char *value)
{
    const struct memcg_file *f = name ? find_file(name) : NULL;

    if (!cg || !f || !value)
        return -EINVAL;
    if (!f->write)
        return -EINVAL;         /* as kernfs: a file with no write op */
    return f->write(cg, value);
}

bool memcg_file_exists(const char *name)
{
    return name && find_file(name);
}

bool memcg_file_writable(const char *name)
{
    const struct memcg_file *f = name ? find_file(name) : NULL;

    return f && f->write;
}
