/* test_lru.c - the per-memcg LRU lists: where pages go on write, read,
 * overwrite and discard (a table of steps, lru_check after each), the
 * inactive_is_low balance, memcgs keeping their own lists, and the walker
 * and the state machine catching a broken list. */
#include "swap_test.h"

static enum lru_list where(const struct mm *mm, const struct segment *seg,
                           uint64_t index)
{
    const struct page *page = pfn_to_page(mm, pte_pfn(test_pte(seg, index)));

    ck_assert(page_test(page, PG_lru));
    return page_lru(page);
}

enum step_op { W, R, D };

static const struct lru_step {
    enum step_op op;
    uint64_t index;
    enum lru_list list;                 /* where index is afterwards (not D) */
    bool referenced;
} lru_steps[] = {
    {W, 0, LRU_INACTIVE_ANON, false},   /* new page: inactive, unreferenced */
    {R, 0, LRU_INACTIVE_ANON, true},    /* first access: referenced */
    {R, 0, LRU_ACTIVE_ANON, false},     /* second: promoted */
    {R, 0, LRU_ACTIVE_ANON, true},      /* on active: referenced again */
    {W, 1, LRU_INACTIVE_ANON, false},
    {W, 1, LRU_INACTIVE_ANON, true},    /* an overwrite is an access */
    {W, 1, LRU_ACTIVE_ANON, false},
    {D, 1, 0, false},                   /* discard: off the list, freed */
    {W, 1, LRU_INACTIVE_ANON, false},   /* written again: starts over */
    {D, 0, 0, false},
};

START_TEST(test_lru_steps)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    char buf[MM_PAGE_SIZE];

    memset(buf, 7, sizeof(buf));
    for (size_t i = 0; i < sizeof(lru_steps) / sizeof(lru_steps[0]); i++) {
        const struct lru_step *s = &lru_steps[i];
        const struct page *page;

        if (s->op == W)
            ck_assert_int_eq(segment_write(f.seg, s->index, 1, buf), 0);
        else if (s->op == R)
            ck_assert_int_eq(segment_read(f.seg, s->index, 1, buf), 0);
        else
            ck_assert_int_eq(segment_discard(f.seg, s->index, 1), 0);
        ck_assert_mm_ok(f.mm);
        if (s->op == D) {
            ck_assert(pte_none(test_pte(f.seg, s->index)));
            continue;
        }
        ck_assert_msg(where(f.mm, f.seg, s->index) == s->list, "step %zu", i);
        page = pfn_to_page(f.mm, pte_pfn(test_pte(f.seg, s->index)));
        ck_assert_msg(page_test(page, PG_referenced) == s->referenced, "step %zu", i);
        ck_assert(page_test(page, PG_active) == (s->list == LRU_ACTIVE_ANON));
    }
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pgactivate), 2);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_lru_order_newest_at_head)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    const struct lru_head *h = &f.cg->lruvec.lists[LRU_INACTIVE_ANON];
    char buf[MM_PAGE_SIZE] = { 1 };

    for (uint64_t i = 0; i < 10; i++)
        ck_assert_int_eq(segment_write(f.seg, i, 1, buf), 0);
    ck_assert_uint_eq(h->nr, 10);
    ck_assert_uint_eq(h->head, pte_pfn(test_pte(f.seg, 9)));
    ck_assert_uint_eq(h->tail, pte_pfn(test_pte(f.seg, 0)));
    ck_assert_uint_eq(f.cg->lruvec.lists[LRU_ACTIVE_ANON].nr, 0);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

static const struct {
    uint64_t inactive, active;
    bool low;
} low_cases[] = {
    {0, 0, false},
    {10, 10, false},                    /* ratio 1 below 1 GiB: equal is fine */
    {10, 11, true},
    {0, 1, true},
    {100, 0, false},
    /* 11 GiB in all: ratio int_sqrt(110) = 10; 12 GiB: int_sqrt(120) = 10 */
    {1ull << 18, 10ull << 18, false},
    {1ull << 18, 11ull << 18, true},
};

START_TEST(test_inactive_is_low_table)
{
    struct lruvec lv;

    lruvec_init(&lv);
    lv.lists[LRU_INACTIVE_ANON].nr = low_cases[_i].inactive;
    lv.lists[LRU_ACTIVE_ANON].nr = low_cases[_i].active;
    ck_assert_msg(lru_inactive_is_low(&lv, false) == low_cases[_i].low,
                  "case %d", _i);
    ck_assert(!lru_inactive_is_low(&lv, true));     /* file lists empty */
}
END_TEST

START_TEST(test_memcgs_keep_their_own_lists)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    struct memcg *cg2 = test_memcg(f.mm, "other");
    struct segment *seg2 = test_segment(f.mm, cg2, 64);
    char buf[MM_PAGE_SIZE] = { 2 };

    for (uint64_t i = 0; i < 5; i++)
        ck_assert_int_eq(segment_write(f.seg, i, 1, buf), 0);
    for (uint64_t i = 0; i < 3; i++)
        ck_assert_int_eq(segment_write(seg2, i, 1, buf), 0);
    ck_assert_uint_eq(f.cg->lruvec.lists[LRU_INACTIVE_ANON].nr, 5);
    ck_assert_uint_eq(cg2->lruvec.lists[LRU_INACTIVE_ANON].nr, 3);
    ck_assert_mm_ok(f.mm);
    segment_destroy(seg2);
    ck_assert_uint_eq(cg2->lruvec.lists[LRU_INACTIVE_ANON].nr, 0);
    memcg_destroy(cg2);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A named segment (segment_set_file) is listed on the file pair, promoted
 * within it, counted as memory.stat cache beside the anon rss, swapped out
 * by reclaim like anon pages and listed on the file pair again when it
 * comes back; set_file after the first write is refused. */
static uint64_t stat_value_of(const struct memcg *cg, const char *key)
{
    static char text[4096];
    const char *p = text;
    size_t len = strlen(key);

    ck_assert_int_eq(memcg_file_read(cg, "memory.stat", text, sizeof(text)), 0);
    while (p && *p) {
        if (strncmp(p, key, len) == 0 && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    ck_abort_msg("memory.stat has no %s", key);
    return 0;
}

START_TEST(test_named_segment_on_file_lists)
{
    struct swap_fixture f = swap_setup(8 * MiB, 4 * MiB, 64);
    struct segment *named = test_segment(f.mm, f.cg, 64);
    const struct lruvec *lv = &f.cg->lruvec;
    char buf[MM_PAGE_SIZE] = { 4 };

    ck_assert_int_eq(segment_set_file(named), 0);
    for (uint64_t i = 0; i < 6; i++)
        ck_assert_int_eq(segment_write(named, i, 1, buf), 0);
    for (uint64_t i = 0; i < 2; i++)
        ck_assert_int_eq(segment_write(f.seg, i, 1, buf), 0);
    ck_assert_int_eq(segment_set_file(f.seg), -EBUSY);
    ck_assert_uint_eq(lv->lists[LRU_INACTIVE_FILE].nr, 6);
    ck_assert_uint_eq(lv->lists[LRU_INACTIVE_ANON].nr, 2);
    ck_assert_int_eq(where(f.mm, named, 0), LRU_INACTIVE_FILE);
    /* Two accesses promote it within the file pair. */
    ck_assert_int_eq(segment_read(named, 0, 1, buf), 0);
    ck_assert_int_eq(segment_read(named, 0, 1, buf), 0);
    ck_assert_int_eq(where(f.mm, named, 0), LRU_ACTIVE_FILE);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(stat_value_of(f.cg, "cache"), 6 * MM_PAGE_SIZE);
    ck_assert_uint_eq(stat_value_of(f.cg, "rss"), 2 * MM_PAGE_SIZE);
    ck_assert_uint_eq(stat_value_of(f.cg, "active_file"), MM_PAGE_SIZE);
    ck_assert_uint_eq(stat_value_of(f.cg, "inactive_file"), 5 * MM_PAGE_SIZE);
    /* Reclaim takes file pages too: everything goes to swap. */
    ck_assert_uint_eq(vmscan_try_to_free_pages(f.mm, f.cg, 8, true), 8);
    ck_assert_uint_eq(named->swapped, 6);
    ck_assert_uint_eq(lv->lists[LRU_INACTIVE_FILE].nr +
                      lv->lists[LRU_ACTIVE_FILE].nr, 0);
    ck_assert_mm_ok(f.mm);
    /* Swapped back in: on the file pair again. */
    ck_assert_int_eq(segment_read(named, 3, 1, buf), 0);
    ck_assert_int_eq(where(f.mm, named, 3), LRU_INACTIVE_FILE);
    ck_assert_uint_eq(stat_value_of(f.cg, "cache"), MM_PAGE_SIZE);
    ck_assert_mm_ok(f.mm);
    segment_destroy(named);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_check_catches_broken_list)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    struct lru_head *h = &f.cg->lruvec.lists[LRU_INACTIVE_ANON];
    char buf[MM_PAGE_SIZE] = { 3 };
    struct page *page;
    uint64_t nr;

    for (uint64_t i = 0; i < 4; i++)
        ck_assert_int_eq(segment_write(f.seg, i, 1, buf), 0);
    page = pfn_to_page(f.mm, h->head);
    test_log_quiet();
    /* A wrong count, a wrong flag, a broken back link: each one caught. */
    h->nr++;
    ck_assert_int_eq(lru_check(f.mm, &nr), -EUCLEAN);
    h->nr--;
    page_set(page, PG_active);
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    page_clear(page, PG_active);
    page->prev = page->next;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    page->prev = PFN_NONE;
    /* A listed page cannot be taken out of DATA behind the LRU's back. */
    ck_assert_int_eq(page_set_state(f.mm, page, PAGE_ALLOCATED), -EBUSY);
    test_log_restore();
    ck_assert_int_gt(test_log_count, 3);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

Suite *lru_suite(void)
{
    Suite *s = suite_create("lru");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_lru_steps);
    tcase_add_test(tc, test_lru_order_newest_at_head);
    tcase_add_loop_test(tc, test_inactive_is_low_table, 0,
                        sizeof(low_cases) / sizeof(low_cases[0]));
    tcase_add_test(tc, test_memcgs_keep_their_own_lists);
    tcase_add_test(tc, test_named_segment_on_file_lists);
    tcase_add_test(tc, test_check_catches_broken_list);
    suite_add_tcase(s, tc);
    return s;
}
