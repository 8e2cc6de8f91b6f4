/* userfaultfd: the only file in client/ that issues its ioctls.
 *
 * The descriptor is created without UFFD_USER_MODE_ONLY whenever the
 * process may (root, CAP_SYS_PTRACE, or /dev/userfaultfd), because only then
 * do faults raised inside the kernel - read(2) into a mapping, write(2) from
 * one - reach us.  Ranges are registered MISSING|WP: missing faults bring
 * pages in, write-protect faults are the PTE dirty bit.
 * UFFD_FEATURE_EVENT_REMOVE stays off: with it, MADV_DONTNEED on a
 * registered range blocks until the event is read, and our eviction runs on
 * the thread that reads events.
 *
 * Where the kernel offers them (Linux 6.8), write protection runs in
 * asynchronous mode (UFFD_FEATURE_WP_ASYNC): a store to a protected page
 * is resolved by the kernel itself, which only clears the page's uffd-wp
 * bit, so the first store to a clean page costs no round trip through the
 * fault thread.  PAGEMAP_SCAN on /proc/self/pagemap then reports the
 * written pages and protects them again in one call, and UFFDIO_MOVE takes
 * a page out of the mapping atomically, which is what eviction needs now
 * that a store can no longer be held off (evict.c).  RMEM_WP=sync in the
 * environment keeps the synchronous mode, where every first store raises a
 * write-protect fault. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* From the kernel's UAPI (linux/userfaultfd.h and linux/fs.h of 6.8), for
 * older headers; whether the running kernel has them is asked at run time. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};
struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_PRESENT (1 << 3)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

static int uffd_create(int flags)
{
    int fd = (int)syscall(SYS_userfaultfd, flags);

    if (fd >= 0 || errno != EPERM)
        return fd >= 0 ? fd : -errno;
    /* Not privileged for kernel faults: /dev/userfaultfd grants them to
     * whoever may open it. */
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
        close(dev);
        if (fd >= 0)
            return fd;
    }
    fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
    if (fd < 0)
        return -errno;
    fprintf(stderr, "librmem: warning: userfaultfd limited to user-mode faults "
            "(no privilege): read(2)/write(2) on non-resident rmem pages "
            "will fail with EFAULT\n");
    return fd;
}

/* THREAD_ID: a fault that cannot be served is answered with SIGBUS to
 * the thread that raised it. */
#define FEATURES_BASE (UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID)
#define FEATURES_ASYNC (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | \
                        UFFD_FEATURE_MOVE)

static int uffd_open_with(uint64_t features)
{
    struct uffdio_api api = {.api = UFFD_API, .features = features};
    int fd = uffd_create(O_CLOEXEC | O_NONBLOCK), err;

    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) == 0)
        return fd;
    err = -errno;
    close(fd);
    return err;
}

/* With wp_async, asks for asynchronous write protection first and says
 * whether it was granted; a kernel without it refuses the whole request
 * (EINVAL), and a descriptor's API is set once, so the synchronous mode
 * gets a descriptor of its own.  Without wp_async: synchronous only. */
int rmem__uffd_open(bool *wp_async)
{
    const char *mode = getenv("RMEM_WP");
    int fd;

    if (wp_async) {
        *wp_async = false;
        if (!mode || strcmp(mode, "sync") != 0) {
            fd = uffd_open_with(FEATURES_BASE | FEATURES_ASYNC);
            if (fd >= 0) {
                *wp_async = true;
                return fd;
            }
            if (fd != -EINVAL)
                return fd;
        }
    }
    return uffd_open_with(FEATURES_BASE);
}

/* wp: MISSING|WP for mappings; without, MISSING only (the staging area
 * eviction moves pages into, which must belong to the same descriptor). */
int rmem__uffd_register(int fd, void *addr, size_t len, bool wp)
{
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)addr, .len = len},
        .mode = UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0),
    };
    const uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE) |
                          (wp ? 1ull << _UFFDIO_WRITEPROTECT : 0);

    if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
        return -errno;
    if ((reg.ioctls & need) != need) {
        rmem__uffd_unregister(fd, addr, len);
        return -EOPNOTSUPP;
    }
    return 0;
}

int rmem__uffd_unregister(int fd, void *addr, size_t len)
{
    struct uffdio_range range = {.start = (uintptr_t)addr, .len = len};

    return ioctl(fd, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

/* Maps len bytes from src at dst and wakes the faulting threads.  EEXIST
 * (already mapped by someone else) is success: the waiters still need a
 * wake, which we give them. */
int rmem__uffd_copy(int fd, void *dst, const void *src, size_t len, bool wp)
{
    struct uffdio_copy copy = {
        .dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
        .mode = wp ? UFFDIO_COPY_MODE_WP : 0,
    };

    for (;;) {
        if (ioctl(fd, UFFDIO_COPY, &copy) == 0)
            return 0;
        if (errno == EEXIST)
            return rmem__uffd_wake(fd, dst, len);
        if (errno == EAGAIN && copy.copy > 0) {
            /* Partial copy: continue after what was mapped. */
            copy.dst += (uint64_t)copy.copy;
            copy.src += (uint64_t)copy.copy;
            copy.len -= (uint64_t)copy.copy;
            copy.copy = 0;
            continue;
        }
        if (errno == EAGAIN)
            continue;
        return -errno;
    }
}

/* Protecting never wakes anyone (the kernel refuses WP|DONTWAKE), so
 * `wake` matters only when lifting the protection. */
int rmem__uffd_writeprotect(int fd, void *addr, size_t len, bool wp, bool wake)
{
    struct uffdio_writeprotect w = {
        .range = {.start = (uintptr_t)addr, .len = len},
        .mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP :
                     (wake ? 0 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE),
    };

    while (ioctl(fd, UFFDIO_WRITEPROTECT, &w) < 0) {
        if (errno != EAGAIN)
            return -errno;
    }
    return 0;
}

/* How many pages from the start of [addr, addr+len) are mapped. */
static size_t present_prefix(uintptr_t addr, size_t len)
{
    unsigned char vec[64];
    size_t pages = len / RMEM_PAGE_SIZE, n = 0;

    while (n < pages) {
        size_t chunk = pages - n < sizeof(vec) ? pages - n : sizeof(vec);

        if (mincore((void *)(addr + n * RMEM_PAGE_SIZE), chunk * RMEM_PAGE_SIZE,
                    vec) < 0)
            return n;
        for (size_t k = 0; k < chunk; k++, n++)
            if (!(vec[k] & 1))
                return n;
    }
    return n;
}

/* Moves len bytes of mapped pages from src to the empty range dst (both
 * registered with fd), without waking anyone: 0 or -errno (EBUSY: a page
 * is pinned or shared), with *done bytes moved either way.
 *
 * A move can race with the program's own stores to the source (EAGAIN),
 * and the count the kernel reports after such a race is not always the
 * pages it moved; since pages move in address order, the mapped prefix of
 * dst says how far it got, and the move continues from there. */
int rmem__uffd_move(int fd, void *dst, void *src, size_t len, size_t *done)
{
    struct uffdio_move mv = {
        .dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
        .mode = UFFDIO_MOVE_MODE_DONTWAKE,
    };

    *done = 0;
    for (;;) {
        size_t moved;
        int err;

        mv.move = 0;
        if (ioctl(fd, UFFDIO_MOVE, &mv) == 0) {
            *done = len;
            return 0;
        }
        err = errno;
        moved = present_prefix(mv.dst, mv.len) * RMEM_PAGE_SIZE;
        *done += moved;
        mv.dst += moved;
        mv.src += moved;
        mv.len -= moved;
        if (mv.len == 0)
            return 0;
        if (err != EAGAIN && !(err == EEXIST && moved))
            return -err;
    }
}

int rmem__pagemap_open(void)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

/* Calls fn for every run of present pages in [addr, addr+len) written
 * since they were last protected, and protects them again - atomically per
 * page, so a store lands either before (and is reported) or after (and
 * will be reported next time).  0 or -errno. */
int rmem__pagemap_scan_written(int pm, void *addr, size_t len,
                               void (*fn)(void *arg, char *start, size_t len),
                               void *arg)
{
    struct page_region vec[64];
    struct pm_scan_arg scan = {
        .size = sizeof(scan),
        .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
        .start = (uintptr_t)addr,
        .end = (uintptr_t)addr + len,
        .vec = (uintptr_t)vec,
        .vec_len = sizeof(vec) / sizeof(vec[0]),
        /* Present as well: a page never mapped counts as written. */
        .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT,
        .return_mask = PAGE_IS_WRITTEN,
    };

    for (;;) {
        long n = ioctl(pm, PAGEMAP_SCAN, &scan);

        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        for (long i = 0; i < n; i++)
            fn(arg, (char *)(uintptr_t)vec[i].start,
               (size_t)(vec[i].end - vec[i].start));
        if (scan.walk_end >= scan.end)
            return 0;
        scan.start = scan.walk_end;
    }
}

int rmem__uffd_wake(int fd, void *addr, size_t len)
{
    struct uffdio_range range = {.start = (uintptr_t)addr, .len = len};

    return ioctl(fd, UFFDIO_WAKE, &range) < 0 ? -errno : 0;
}

/* Reads up to max fault messages; 0 when none is pending. */
int rmem__uffd_read(int fd, struct uffd_msg *msgs, int max)
{
    ssize_t n = read(fd, msgs, sizeof(*msgs) * (size_t)max);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    return (int)(n / (ssize_t)sizeof(*msgs));
}
