/* swap_test.h - helpers of the lru, swap and vmscan suites: a swap file in
 * /tmp that is unlinked as soon as it is open (nothing is left behind even
 * when a test crashes), pools with a swap file on, and pages stamped with
 * their index so any mix-up shows. */
#ifndef RMEM_TESTS_SWAP_TEST_H
#define RMEM_TESTS_SWAP_TEST_H

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "mm_test.h"

#define TEST_SWAP_NAME "/tmp/rmem-test-swap"

/* An open, already unlinked file of bytes; flags as open(2)'s access mode. */
static inline int test_swapfile_mode(uint64_t bytes, int mode)
{
    char path[] = "/tmp/rmem-test-swap-XXXXXX";
    int fd = mkstemp(path), fd2;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
    if (mode == O_RDWR) {
        unlink(path);
        return fd;
    }
    fd2 = open(path, mode);
    unlink(path);
    close(fd);
    ck_assert_int_ge(fd2, 0);
    return fd2;
}

static inline int test_swapfile(uint64_t bytes)
{
    return test_swapfile_mode(bytes, O_RDWR);
}

struct swap_fixture {
    struct mm *mm;
    struct memcg *cg;
    struct segment *seg;
    int fd;
};

static inline struct swap_fixture swap_setup(uint64_t pool, uint64_t swap,
                                             uint64_t npages)
{
    struct swap_fixture f;

    f.mm = test_mm(pool);
    f.fd = swap ? test_swapfile(swap) : -1;
    if (swap)
        ck_assert_int_eq(mm_swapon(f.mm, f.fd, TEST_SWAP_NAME, swap), 0);
    f.cg = test_memcg(f.mm, "tenant");
    f.seg = test_segment(f.mm, f.cg, npages);
    ck_assert_mm_ok(f.mm);
    return f;
}

/* Everything freed: no page, slot or charge left anywhere. */
static inline void swap_teardown(struct swap_fixture *f)
{
    struct mm_swap_info si;
    struct mm_stat st;

    if (f->seg)
        segment_destroy(f->seg);
    ck_assert_uint_eq(f->cg->usage, 0);
    ck_assert_uint_eq(f->cg->swap, 0);
    memcg_destroy(f->cg);
    ck_assert_mm_ok(f->mm);
    for (unsigned t = 0; t < mm_nr_swapfiles(f->mm); t++) {
        ck_assert_int_eq(mm_swap_info(f->mm, t, &si), 0);
        ck_assert_uint_eq(si.used_pages, 0);
    }
    mm_get_stat(f->mm, &st);
    /* What is not free is slab or kvmalloc: empty slabs kept for reuse
     * and the swap file's own metadata (swap.c allocates it there). */
    ck_assert_uint_eq(st.free_pages + st.slab_pages + st.kvmalloc_pages,
                      st.total_pages);
    ck_assert_uint_eq(st.data_pages + st.table_pages + st.segments, 0);
    mm_destroy(f->mm);
    if (f->fd >= 0)
        close(f->fd);
}

/* Page i of a run carries (seed, index) in every word. */
static inline void test_stamp(void *page, uint64_t index, uint64_t seed)
{
    uint64_t *w = page;

    for (size_t i = 0; i < MM_PAGE_SIZE / sizeof(*w); i++)
        w[i] = (seed * 0x9E3779B97F4A7C15ull) ^ (index << 12) ^ i;
}

static inline int test_stamp_ok(const void *page, uint64_t index, uint64_t seed)
{
    const uint64_t *w = page;

    for (size_t i = 0; i < MM_PAGE_SIZE / sizeof(*w); i++)
        if (w[i] != ((seed * 0x9E3779B97F4A7C15ull) ^ (index << 12) ^ i))
            return 0;
    return 1;
}

static inline void test_write_stamped(struct segment *seg, uint64_t index,
                                      uint64_t seed)
{
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];

    test_stamp(buf, index, seed);
    ck_assert_int_eq(segment_write(seg, index, 1, buf), 0);
}

static inline void test_read_stamped(struct segment *seg, uint64_t index,
                                     uint64_t seed)
{
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];

    ck_assert_int_eq(segment_read(seg, index, 1, buf), 0);
    ck_assert_msg(test_stamp_ok(buf, index, seed), "page %llu lost its contents",
                  (unsigned long long)index);
}

static inline pte_t test_pte(const struct segment *seg, uint64_t index)
{
    pte_t *pte = pgtable_lookup(&seg->pt, index);

    return pte ? *pte : 0;
}

static inline uint64_t test_event(const struct mm *mm, enum mm_vm_event ev)
{
    uint64_t events[NR_MM_VM_EVENTS];

    mm_get_vm_events(mm, events);
    return events[ev];
}

static inline uint64_t test_pool_free(const struct mm *mm)
{
    struct mm_stat st;

    mm_get_stat(mm, &st);
    return st.free_pages;
}

#endif
