/* userfaultfd: the only file in client/ that issues its ioctls.
 *
 * The descriptor is created without UFFD_USER_MODE_ONLY whenever the
 * process may (root, CAP_SYS_PTRACE, or /dev/userfaultfd), because only then
 * do faults raised inside the kernel - read(2) into a mapping, write(2) from
 * one - reach us.  Ranges are registered MISSING|WP: missing faults bring
 * pages in, write-protect faults are the PTE dirty bit.
 * UFFD_FEATURE_EVENT_REMOVE stays off: with it, MADV_DONTNEED on a
 * registered range blocks until the event is read, and our eviction runs on
 * the thread that reads events. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
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

int rmem__uffd_open(void)
{
    /* THREAD_ID: a fault that cannot be served is answered with SIGBUS to
     * the thread that raised it. */
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP |
                                         UFFD_FEATURE_THREAD_ID};
    int fd = uffd_create(O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return fd;
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

int rmem__uffd_register(int fd, void *addr, size_t len)
{
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)addr, .len = len},
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
    };
    const uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WRITEPROTECT) |
                          (1ull << _UFFDIO_WAKE);

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
