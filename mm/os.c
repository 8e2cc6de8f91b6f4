/* os.c - the only file of mm/ that talks to the operating system.
 *
 * Swap I/O is plain pwrite/pwritev/preadv on the descriptor rmemd hands
 * to mm_swapon(), retried on EINTR and on short transfers; os_swap_writev
 * also runs on rmemd's I/O threads (asynchronous swap-out, vmscan.c).
 *
 * The pool lives in one anonymous mapping per NUMA node (an arena), mapped
 * MAP_NORESERVE so that a 1 GiB pool costs nothing until its pages are
 * written, aligned to a max-order block so that buddy blocks coincide with
 * transparent huge pages (os_arena_advise_huge asks for them, and
 * os_anon_huge_bytes reads back from /proc/self/smaps how much of the
 * arenas the kernel holds in huge pages), and bound to its node with
 * mbind.  Topology comes from libnuma; without NUMA support (or where the
 * kernel refuses the policy) the pool is one unbound arena and rmem still
 * works, only without placement. */
#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define ARENA_ALIGN ((uint64_t)MAX_ORDER_NR_PAGES * MM_PAGE_SIZE)

static void topology_single_node(struct numa_topology *topo)
{
    memset(topo, 0, sizeof(*topo));
    topo->nr_nodes = 1;
    topo->node_ids[0] = 0;
    topo->local_node = 0;
    topo->bind_memory = false;
}

static int current_node(const struct numa_topology *topo)
{
    int cpu = sched_getcpu();
    int node = cpu >= 0 ? numa_node_of_cpu(cpu) : -1;

    return node >= 0 ? node : topo->node_ids[0];
}

int os_numa_topology(struct numa_topology *topo)
{
    int configured, max_node;

    if (numa_available() < 0) {
        topology_single_node(topo);
        return 0;
    }
    memset(topo, 0, sizeof(*topo));
    configured = numa_num_configured_nodes();
    max_node = numa_max_node();
    for (int n = 0; n <= max_node; n++) {
        if (!numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
            continue;
        /* bind_mask is 64 bits wide: nodes beyond it cannot be named. */
        if (n >= MM_MAX_ZONES) {
            mm_log(MM_LOG_WARNING, "mm: NUMA node %d ignored (max %d)",
                   n, MM_MAX_ZONES - 1);
            continue;
        }
        topo->node_ids[topo->nr_nodes++] = n;
    }
    if (topo->nr_nodes == 0) {
        mm_log(MM_LOG_WARNING, "mm: libnuma reports %d nodes, none usable",
               configured);
        topology_single_node(topo);
        return 0;
    }
    topo->local_node = current_node(topo);
    topo->bind_memory = true;
    return 0;
}

/* Map bytes + one block and trim both ends, so that the arena starts on a
 * max-order (and hence huge-page) boundary. */
static void *map_aligned(uint64_t bytes)
{
    uint64_t span = bytes + ARENA_ALIGN;
    char *raw, *base;
    uint64_t head, tail;

    raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    base = (char *)(((uintptr_t)raw + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
    head = (uint64_t)(base - raw);
    tail = span - head - bytes;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(base + bytes, tail);
    return base;
}

static void bind_arena(void *base, uint64_t bytes, int node)
{
    unsigned long mask[1] = { 1ul << node };

    /* maxnode counts one past the last bit the kernel should read. */
    if (mbind(base, bytes, MPOL_BIND, mask, 8 * sizeof(mask) + 1, 0) != 0)
        mm_log(MM_LOG_WARNING, "mm: mbind to node %d: %s; arena unbound",
               node, strerror(errno));
}

int os_arena_map(uint64_t bytes, int node, bool bind, void **out)
{
    void *base;

    if (bytes == 0 || bytes % ARENA_ALIGN)
        return -EINVAL;
    base = map_aligned(bytes);
    if (!base)
        return -ENOMEM;
    if (bind && node >= 0 && node < 64)
        bind_arena(base, bytes, node);
    *out = base;
    return 0;
}

/* A hint: refused (THP "never", or a kernel without it), the pool works
 * in 4 KiB pages. */
int os_arena_advise_huge(void *base, uint64_t bytes)
{
#ifdef MADV_HUGEPAGE
    return madvise(base, bytes, MADV_HUGEPAGE) ? -errno : 0;
#else
    (void)base;
    (void)bytes;
    return -EOPNOTSUPP;
#endif
}

static bool vma_overlaps(uintptr_t start, uintptr_t end,
                         const struct iovec *ranges, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uintptr_t b = (uintptr_t)ranges[i].iov_base;

        if (start < b + ranges[i].iov_len && b < end)
            return true;
    }
    return false;
}

/* The AnonHugePages of every mapping of /proc/self/smaps that overlaps one
 * of the ranges.  The kernel walks the page tables of each mapping to
 * print it: a few milliseconds for a GiB of 4 KiB pages. */
int os_anon_huge_bytes(const struct iovec *ranges, unsigned n, uint64_t *bytes)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char *line = NULL;
    size_t cap = 0;
    bool counted = false;
    uint64_t kb;

    if (!f)
        return -errno;
    *bytes = 0;
    while (getline(&line, &cap, f) > 0) {
        uintptr_t start, end;

        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2)
            counted = vma_overlaps(start, end, ranges, n);
        else if (counted && sscanf(line, "AnonHugePages: %" SCNu64 " kB", &kb) == 1)
            *bytes += kb * 1024;
    }
    free(line);
    fclose(f);
    return 0;
}

void os_arena_unmap(void *base, uint64_t bytes)
{
    if (base && munmap(base, bytes) != 0)
        mm_log(MM_LOG_ERR, "mm: munmap arena: %s", strerror(errno));
}

/* A swap file must be a regular file (or block device) of at least bytes,
 * open for reading and writing. */
int os_swap_check_fd(int fd, uint64_t bytes)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return -errno;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < bytes)
        return -EINVAL;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return -EINVAL;
    return 0;
}

int os_swap_write(int fd, const void *page, uint64_t pos)
{
    size_t done = 0;

    while (done < MM_PAGE_SIZE) {
        ssize_t n = pwrite(fd, (const char *)page + done, MM_PAGE_SIZE - done,
                           (off_t)(pos + done));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

/* n page-sized buffers from pos; a short read continues page by page. */
void os_delay_us(uint64_t us)
{
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int os_swap_readv(int fd, const struct iovec *iov, unsigned n, uint64_t pos)
{
    ssize_t got;

    do {
        got = preadv(fd, iov, (int)n, (off_t)pos);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return -errno;
    for (unsigned i = (unsigned)(got / MM_PAGE_SIZE); i < n; i++) {
        size_t done = i == (unsigned)(got / MM_PAGE_SIZE) ? (size_t)got % MM_PAGE_SIZE : 0;

        while (done < MM_PAGE_SIZE) {
            ssize_t r = pread(fd, (char *)iov[i].iov_base + done,
                              MM_PAGE_SIZE - done,
                              (off_t)(pos + (uint64_t)i * MM_PAGE_SIZE + done));

            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -errno;
            if (r == 0)
                return -EIO;
            done += (size_t)r;
        }
    }
    return 0;
}

/* n page-sized buffers to pos in one pwritev; a short write continues page
 * by page.  Called from rmemd's I/O threads: it touches only fd and iov. */
int os_swap_writev(int fd, const struct iovec *iov, unsigned n, uint64_t pos)
{
    ssize_t put;
    unsigned first;

    do {
        put = pwritev(fd, iov, (int)n, (off_t)pos);
    } while (put < 0 && errno == EINTR);
    if (put < 0)
        return -errno;
    first = (unsigned)(put / MM_PAGE_SIZE);
    for (unsigned i = first; i < n; i++) {
        size_t done = i == first ? (size_t)put % MM_PAGE_SIZE : 0;

        while (done < MM_PAGE_SIZE) {
            ssize_t w = pwrite(fd, (const char *)iov[i].iov_base + done,
                               MM_PAGE_SIZE - done,
                               (off_t)(pos + (uint64_t)i * MM_PAGE_SIZE + done));

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            if (w == 0)
                return -EIO;
            done += (size_t)w;
        }
    }
    return 0;
}
