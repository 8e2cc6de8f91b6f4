/* test_os.c - what mm/ asks of the operating system: the NUMA topology,
 * arenas aligned to a max-order block, and swap-file I/O (checks on the
 * descriptor, a page written and read back, short files and bad
 * descriptors reported as errors rather than crashes). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mm_test.h"

#define ARENA_BYTES ((uint64_t)MAX_ORDER_NR_PAGES * MM_PAGE_SIZE)

START_TEST(test_topology_names_the_local_node)
{
    struct numa_topology topo;
    bool found = false;

    ck_assert_int_eq(os_numa_topology(&topo), 0);
    ck_assert_uint_ge(topo.nr_nodes, 1);
    ck_assert_uint_le(topo.nr_nodes, MM_MAX_ZONES);
    for (unsigned i = 0; i < topo.nr_nodes; i++) {
        if (i)
            ck_assert_int_gt(topo.node_ids[i], topo.node_ids[i - 1]);
        found |= topo.node_ids[i] == topo.local_node;
    }
    ck_assert(found);
}
END_TEST

START_TEST(test_arena_is_aligned_and_writable)
{
    void *base = NULL;
    unsigned char *p;

    ck_assert_int_eq(os_arena_map(2 * ARENA_BYTES, 0, false, &base), 0);
    ck_assert_uint_eq((uintptr_t)base % ARENA_BYTES, 0);
    p = base;
    p[0] = 1;
    p[2 * ARENA_BYTES - 1] = 2;                 /* both ends are ours */
    ck_assert_uint_eq(p[0] + p[2 * ARENA_BYTES - 1], 3);
    os_arena_unmap(base, 2 * ARENA_BYTES);
}
END_TEST

static const uint64_t bad_arena_sizes[] = {0, MM_PAGE_SIZE, ARENA_BYTES + MM_PAGE_SIZE};

START_TEST(test_arena_size_must_be_whole_blocks)
{
    void *base = NULL;

    ck_assert_int_eq(os_arena_map(bad_arena_sizes[_i], 0, false, &base), -EINVAL);
    ck_assert_ptr_null(base);
}
END_TEST

static int tmp_swap(uint64_t bytes, int flags)
{
    char path[] = "/tmp/rmem-test-os-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
    if (flags != O_RDWR) {
        int ro = open(path, flags);

        ck_assert_int_ge(ro, 0);
        close(fd);
        fd = ro;
    }
    unlink(path);
    return fd;
}

START_TEST(test_swap_page_round_trip)
{
    static unsigned char page[4][MM_PAGE_SIZE], back[4][MM_PAGE_SIZE];
    struct iovec iov[4];
    int fd = tmp_swap(16 * MM_PAGE_SIZE, O_RDWR);

    ck_assert_int_eq(os_swap_check_fd(fd, 16 * MM_PAGE_SIZE), 0);
    for (unsigned i = 0; i < 4; i++) {
        test_fill(page[i], MM_PAGE_SIZE, 100 + i);
        ck_assert_int_eq(os_swap_write(fd, page[i], (5 + i) * MM_PAGE_SIZE), 0);
        iov[i].iov_base = back[i];
        iov[i].iov_len = MM_PAGE_SIZE;
    }
    ck_assert_int_eq(os_swap_readv(fd, iov, 4, 5 * MM_PAGE_SIZE), 0);
    ck_assert_mem_eq(back, page, sizeof(page));
    ck_assert_int_eq(os_swap_check_fd(fd, 16 * MM_PAGE_SIZE), 0);  /* as it was */
    close(fd);
}
END_TEST

START_TEST(test_swap_errors_are_reported)
{
    static unsigned char page[MM_PAGE_SIZE];
    struct iovec iov = {page, MM_PAGE_SIZE};
    int small = tmp_swap(4 * MM_PAGE_SIZE, O_RDWR);
    int ro = tmp_swap(4 * MM_PAGE_SIZE, O_RDONLY);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);

    ck_assert_int_eq(os_swap_check_fd(small, 8 * MM_PAGE_SIZE), -EINVAL);
    ck_assert_int_eq(os_swap_check_fd(dir, MM_PAGE_SIZE), -EINVAL);
    ck_assert_int_eq(os_swap_check_fd(-1, MM_PAGE_SIZE), -EBADF);
    ck_assert_int_eq(os_swap_write(ro, page, 0), -EBADF);
    ck_assert_int_eq(os_swap_write(-1, page, 0), -EBADF);
    /* Past the end of the file: nothing to read is an I/O error. */
    ck_assert_int_eq(os_swap_readv(small, &iov, 1, 4 * MM_PAGE_SIZE), -EIO);
    ck_assert_int_eq(os_swap_readv(-1, &iov, 1, 0), -EBADF);
    close(small);
    close(ro);
    close(dir);
}
END_TEST

Suite *os_suite(void)
{
    Suite *s = suite_create("os");
    TCase *tc = tcase_create("os");

    tcase_add_test(tc, test_topology_names_the_local_node);
    tcase_add_test(tc, test_arena_is_aligned_and_writable);
    tcase_add_loop_test(tc, test_arena_size_must_be_whole_blocks, 0,
                        sizeof(bad_arena_sizes) / sizeof(bad_arena_sizes[0]));
    tcase_add_test(tc, test_swap_page_round_trip);
    tcase_add_test(tc, test_swap_errors_are_reported);
    suite_add_tcase(s, tc);
    return s;
}
